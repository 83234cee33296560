"""Who a caller is: the keys file, its entries, and the principal a request acts as.

Zero config: any well-formed credential is accepted as the vendor's default user with every role.
With a keys file only the listed credentials are accepted, each with its user and roles:

    close:
      - credentials: {ApiKeyAuth: "api_key_alice:"}      # Basic is "username:password"
        user: {name: Alice Admin, email: alice@example.com}
    nexudus:
      - credentials: {OAuth2: "tok-bob", BasicAuth: "bob@example.com:secret"}
        user: {full_name: Bob Reader, email: bob@example.com}
        roles: [CrmOpportunityHistory-List]

`KeyRing.match` is the one credential matcher: the authenticate stage and a vendor's own login
endpoint (Nexudus' password grant) both ask it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml


@dataclass(frozen=True)
class Principal:
    """The caller a request acts as."""

    user: dict
    roles: frozenset[str] | None = None  # None: every role (a full administrator)
    credentials: dict = field(default_factory=dict, compare=False, hash=False)

    def has_roles(self, needed) -> bool:
        return self.roles is None or set(needed) <= self.roles


ANONYMOUS = Principal(user={}, roles=frozenset())


@dataclass(frozen=True)
class KeyEntry:
    """One keys-file entry: the credentials (security scheme name → value), a user and roles."""

    credentials: Mapping[str, str]
    user: Mapping = field(default_factory=dict)
    roles: frozenset[str] | None = None

    def principal(self, credentials: dict | None = None) -> Principal:
        return Principal(user=dict(self.user), roles=self.roles, credentials=credentials or {})


@dataclass(frozen=True)
class KeyRing:
    """A vendor's keys-file entries. Empty means zero config: any well-formed credential is accepted."""

    entries: tuple[KeyEntry, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.entries)

    def match(self, offered: Mapping[str, str]) -> KeyEntry | None:
        """The entry listing every offered credential with the same value, or None."""
        for entry in self.entries:
            if all(entry.credentials.get(name) == value for name, value in offered.items()):
                return entry
        return None


@dataclass(frozen=True)
class Keys:
    """The whole keys file: a `KeyRing` per vendor."""

    by_vendor: Mapping[str, KeyRing] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.by_vendor)

    def check(self, schemes: Mapping[str, Mapping]) -> None:
        """Every vendor and security scheme named must exist (`schemes`: vendor → its schemes):
        a typo would otherwise be accepted silently and every request would get a puzzling 401."""
        for vendor, ring in self.by_vendor.items():
            if vendor not in schemes:
                raise ValueError(f"keys file: unknown vendor {vendor!r}; the vendors are {', '.join(schemes)}")
            for n, entry in enumerate(ring.entries, 1):
                unknown = sorted(set(entry.credentials) - set(schemes[vendor]))
                if unknown:
                    raise ValueError(f"keys file, {vendor} entry {n}: unknown security scheme {unknown[0]!r}; "
                                     f"{vendor}'s schemes are {', '.join(schemes[vendor])}")

    def for_vendor(self, vendor: str) -> KeyRing:
        return self.by_vendor.get(vendor, KeyRing())

    @classmethod
    def load(cls, source) -> Keys:
        """A keys-file path, an already-parsed mapping, a `Keys`, or None (zero config)."""
        if source is None:
            return cls()
        if isinstance(source, Keys):
            return source
        if isinstance(source, (str, Path)):
            with open(source, encoding="utf-8") as fh:
                source = yaml.safe_load(fh) or {}
        _check_shape(source)
        return cls({vendor: KeyRing(tuple(_entry(e) for e in entries or []))
                    for vendor, entries in source.items()})


ENTRY_FIELDS = ("credentials", "user", "roles")
# The keys file's shape as data (the vendors and scheme names are checked against the specs in
# `Keys.check`). `roles: X` (a string) would otherwise become a set of single characters.
KEYS_SCHEMA = {
    "type": "object",
    "propertyNames": {"type": "string"},
    "additionalProperties": {
        "type": ["array", "null"],
        "items": {
            "type": "object",
            "required": ["credentials"],
            "additionalProperties": False,
            "properties": {
                "credentials": {"type": "object", "minProperties": 1, "additionalProperties": {"type": "string"}},
                "user": {"type": ["object", "null"]},
                "roles": {"type": ["array", "null"], "items": {"type": "string"}},
            },
        },
    },
}

JSON_KINDS = {"object": "a mapping", "array": "a list", "string": "a string", "null": "empty"}  # KEYS_SCHEMA's types


def _check_shape(source) -> None:
    """The keys file against KEYS_SCHEMA; the first problem, named by vendor, entry and field.
    Never with the value found: in a keys file that is most likely a credential."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    if not isinstance(source, Mapping) or not all(isinstance(e, list | None) for e in source.values()):
        raise ValueError("the keys file must map vendor names to lists of entries")
    error = best_match(Draft202012Validator(KEYS_SCHEMA).iter_errors(dict(source)))
    if error is None:
        return
    path = list(error.absolute_path)
    if not path:  # propertyNames: a vendor name YAML read as a number or true/false
        raise ValueError("keys file: a vendor name must be a string (close, nexudus, sprinthub)")
    where = f"keys file, {path[0]}" + (f" entry {path[1]}" if len(path) > 1 else "")
    if error.validator == "additionalProperties" and len(path) == 2:
        unknown = sorted(set(error.instance) - set(ENTRY_FIELDS))[0]
        raise ValueError(f"{where}: unknown field {unknown!r}; the fields are {', '.join(ENTRY_FIELDS)}")
    if error.validator == "required":
        raise ValueError(f"{where}: every entry needs a `credentials` mapping of security scheme name to credential")
    if len(path) == 2:  # a credential written where the entry belongs, say
        raise ValueError(f"{where}: must be a mapping of {', '.join(ENTRY_FIELDS)}, not {_kind(error.instance)}")
    field = ".".join(str(p) for p in path[2:])
    hint = {"credentials": " (security scheme name: credential)", "roles": " (a list: roles: [Role-A, Role-B])"}.get(
        field, " (Basic is \"user:password\"; quote one YAML would read as a number)" if path[2] == "credentials" else "")
    raise ValueError(f"{where}: {field}: {_what_is_wrong(error)}{hint}")


def _what_is_wrong(error) -> str:
    """jsonschema's complaint without the instance its `message` quotes."""
    if error.validator == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        return f"must be {' or '.join(JSON_KINDS[w] for w in wanted)}, not {_kind(error.instance)}"
    if error.validator == "minProperties":
        return "must name at least one security scheme"
    return f"not valid ({error.validator})"


def _kind(value) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    kinds: dict[type, str] = {dict: "a mapping", list: "a list", str: "a string"}
    return kinds.get(type(value), type(value).__name__)


def _entry(raw) -> KeyEntry:
    roles = raw.get("roles")
    return KeyEntry(dict(raw["credentials"]), dict(raw.get("user") or {}),
                    None if roles is None else frozenset(roles))
