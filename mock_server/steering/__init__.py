"""Steering the mock from a test: request matching (`matching`), overrides with vendor-shaped
answers and faults (`overrides`, `faults`), and verification against the journal (`verify`)."""
