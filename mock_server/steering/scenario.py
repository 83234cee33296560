"""`--scenario overrides.yaml`: overrides set at start (and again after every reset), written as a
YAML list of the same objects `POST /__mock/overrides` takes (or `{overrides: [...]}`)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import yaml

from mock_server.spec import load_spec
from mock_server.steering.matching import BadMatch
from mock_server.steering.overrides import parse_override


def load_scenario(path: str, vendors: Iterable[str]) -> tuple[dict, ...]:
    """The file's overrides, each checked against the specs of `vendors` (names; a mapping's keys
    do); a ValueError names the entry and the field."""
    specs = {name: load_spec(name) for name in vendors}
    with open(path, encoding="utf-8") as fh:
        try:
            document = yaml.safe_load(fh)
        except yaml.YAMLError as error:
            raise ValueError(f"scenario {path}: not YAML: {error}") from None
    entries = document.get("overrides") if isinstance(document, Mapping) else document
    if not isinstance(entries, list):
        raise ValueError(f"scenario {path}: a list of overrides, or an object with an `overrides` list")
    for number, entry in enumerate(entries, 1):
        try:
            parse_override(entry, specs)
        except BadMatch as error:
            raise ValueError(f"scenario {path}, override {number}: {error}") from None
    return tuple(entries)
