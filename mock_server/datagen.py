"""Realistic, seeded records (Faker for human values)."""


def seed_close(vendor, fake, count):
    pass
