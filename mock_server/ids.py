"""Where IDs are minted: vendor-format identifiers, unique per store and reproducible per seed."""
from __future__ import annotations

import hashlib
import secrets
import string

from mock_server.store import Store

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


# Each byte maps to one of the 62 characters: cheap (bytes.translate) and close enough to uniform.
_BASE62_TABLE = bytes(ord(BASE62[b % 62]) for b in range(256))


def base62(data: bytes, length: int) -> str:
    return data.translate(_BASE62_TABLE)[:length].decode("ascii")


def token(seed: int, namespace: str, n: int, length: int) -> str:
    """`length` base-62 characters derived from (seed, namespace, n): same inputs, same token."""
    digest = hashlib.blake2b(f"{seed}/{namespace}/{n}".encode(), digest_size=64).digest()
    return base62(digest, length)


class IdMinter:
    """Counters live in the store, so workers sharing a SQLite store never mint the same ID."""

    def __init__(self, store: Store, seed: int, reproducible_secrets: bool = False):
        self.store = store
        self.seed = seed
        self.reproducible_secrets = reproducible_secrets

    def prefixed(self, prefix: str, length: int = 43) -> str:
        """Close style: `oppo_` + 43 characters of [A-Za-z0-9]."""
        n = self.store.next_value(f"id:{prefix}")
        return f"{prefix}_{token(self.seed, prefix, n, length)}"

    def integer(self, namespace: str, start: int = 1) -> int:
        """Nexudus/SprintHub style: increasing integers from `start`."""
        return start + self.store.next_value(f"id:{namespace}") - 1

    def guid(self, namespace: str) -> str:
        n = self.store.next_value(f"guid:{namespace}")
        hexed = hashlib.blake2b(f"{self.seed}/{namespace}/{n}".encode(), digest_size=16).hexdigest()
        # Version-4 layout so clients that check GUID shape accept it.
        return f"{hexed[:8]}-{hexed[8:12]}-4{hexed[13:16]}-a{hexed[17:20]}-{hexed[20:32]}"

    def secret(self, namespace: str, length: int) -> str:
        """A credential the vendor issues (an access token): unpredictable, so a token from another
        run or from before a reset never works by accident; from the seed only when asked for."""
        if self.reproducible_secrets:
            return token(self.seed, namespace, self.store.next_value(f"secret:{namespace}"), length)
        return "".join(secrets.choice(BASE62) for _ in range(length))
