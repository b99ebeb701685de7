"""Deterministic synthetic source data: what CI and dev run dbt on, since production data stays in prod."""
