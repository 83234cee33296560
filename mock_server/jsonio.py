"""JSON in and out of the hot path: orjson (≈15x the stdlib on a 100-record page, measured),
with the stdlib as the fallback for what orjson refuses (integers beyond 64 bits)."""
from __future__ import annotations

import json
import math
import secrets

import orjson

JSONDecodeError = orjson.JSONDecodeError  # a ValueError subclass
_DIGITS_TO_ZERO = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_TWENTY_ZEROS = b"0" * 20


def dumps(value) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:
        return _dumps_wide_integers(value)


INT64_LOW, INT64_END = -(2**63), 2**64  # what orjson writes (up to unsigned 64 bits)


def _dumps_wide_integers(value) -> bytes:
    """orjson refuses integers past 64 bits, and the stdlib cannot embed orjson's Fragments (a list
    page of stored records whose totals pass int64). Each wide integer goes out as a placeholder
    string that no JSON text holds (a random nonce between NULs), put back as digits after."""
    nonce, wide = secrets.token_hex(8), []

    def placeholder(number: int) -> str:
        wide.append(number)
        return f"\0{nonce}:{len(wide) - 1}\0"

    def swap(node):
        if isinstance(node, dict):
            return {k: swap(v) for k, v in node.items()}
        if isinstance(node, list | tuple):
            return [swap(v) for v in node]
        if isinstance(node, int) and not isinstance(node, bool) and not INT64_LOW <= node < INT64_END:
            return placeholder(node)
        return node

    try:
        text = orjson.dumps(swap(value))
    except TypeError:
        return json.dumps(value).encode()  # not the integers: the stdlib's error says what it is
    for n, number in enumerate(wide):
        text = text.replace(f'"\\u0000{nonce}:{n}\\u0000"'.encode(), str(number).encode())
    return text


def loads(data: bytes | str):
    value = orjson.loads(data)
    # orjson reads an integer past 64 bits as a float: a record holding one (Close's annualized value
    # of a value near int64's largest) read back from a SQL store would lose digits. Twenty digits in
    # a row is the only way to write one; the stdlib then reads it exactly (rare, and slower). The
    # check maps every digit to "0" and looks for twenty: 1 µs for a 1.5 KB record (a regex: 14 µs).
    raw = data if isinstance(data, bytes) else data.encode()
    if _TWENTY_ZEROS in raw.translate(_DIGITS_TO_ZERO):
        try:
            return json.loads(data)
        except RecursionError:  # nesting the stdlib cannot follow (orjson can): the depth check refuses it
            return value
    return value


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


def unstorable(value, where: str = "") -> str | None:
    """The first place in `value` that no store keeps alike, as "where.path: why", or None. NaN and
    the infinities are not JSON (a listing of them is not JSON either); PostgreSQL's JSONB cannot
    hold NUL (\\u0000) in a string, so memory and SQLite kept what PostgreSQL refused with a 500."""
    stack = [(value, where)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            return f"{path or '(the value)'}: NaN and Infinity are not JSON numbers; a finite number"
        if isinstance(node, str) and "\0" in node:
            return f"{path or '(the value)'}: a NUL character (\\u0000), which the PostgreSQL store cannot keep"
        if isinstance(node, dict):
            for key, child in node.items():
                if isinstance(key, str) and "\0" in key:
                    return f"{path or '(the value)'}: a field name with a NUL character (\\u0000)"
                stack.append((child, f"{path}.{key}" if path else str(key)))
        elif isinstance(node, list):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(node))
    return None
