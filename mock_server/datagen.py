"""Realistic, seeded data: the Faker factory every vendor seeds with, and `crm-mock fixtures`.

Fixtures are not a second copy of the vendor rules: a vendor builds its world in a private
in-memory store through the same code that answers HTTP requests, and the records are read back.
"""
from __future__ import annotations

from datetime import datetime, timezone

from faker import Faker

# Seeded data is dated from here, never from the wall clock, so the same seed gives the same bytes.
SEED_EPOCH = datetime(2024, 1, 2, 9, 0, tzinfo=timezone.utc)


def faker_for(locale: str, seed: int) -> Faker:
    fake = Faker(locale)
    fake.seed_instance(seed)
    return fake
