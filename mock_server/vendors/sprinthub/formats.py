"""How SprintHub writes values: integer IDs counted from the seed's, JavaScript timestamps, MongoDB
`_id`s, and the slugs and domains seeded e-mail addresses are made of."""
from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import datetime

from mock_server.timefmt import iso_utc

# First IDs as in the seed's example: opportunity 4534, lead 8473, company 2582, column 159, user 156.
FIRST_ID = {"funnels": 12, "columns": 159, "users": 156, "companies": 2582, "leads": 8473, "opportunities": 4534}


def js_datetime(moment: datetime) -> str:
    """SprintHub (Node) writes `2024-03-19T21:14:35.000Z`: UTC, milliseconds."""
    return iso_utc(moment, "milliseconds") + "Z"


def object_id(seed: int, kind: str, n: int, created: datetime) -> str:
    """A MongoDB-style `_id`: 8 hex digits of creation time (as in the seed's), then 16 of hash."""
    tail = hashlib.blake2b(f"{seed}/{kind}/{n}".encode(), digest_size=8).hexdigest()
    return f"{int(created.timestamp()):08x}{tail}"


def ascii_slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", plain.lower())


def company_domain(name: str) -> str:
    """`das Neves Brito e Filhos` → `neves.com.br`: the first capitalised word of the name."""
    word = next((w for w in name.split() if w[:1].isupper()), name)
    return f"{ascii_slug(word) or 'empresa'}.com.br"
