"""Trainable building blocks, one concept per file. Shared blocks live in :mod:`.layers`."""
