"""Realistic, reproducible values for seeded worlds: the Faker factory and the seed epoch.

Vendors import this to seed their worlds; `fixtures.py` imports the vendors. Keeping the two apart
is what breaks the old datagen ↔ vendors import cycle.
"""
from __future__ import annotations

from datetime import UTC, datetime

from faker import Faker

# Seeded data is dated from here, never from the wall clock, so the same seed gives the same bytes.
SEED_EPOCH = datetime(2024, 1, 2, 9, 0, tzinfo=UTC)


def faker_for(locale: str, seed: int) -> Faker:
    fake = Faker(locale)
    fake.seed_instance(seed)
    return fake
