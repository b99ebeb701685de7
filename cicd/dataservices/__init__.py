"""Data services for Globant Enterprise AI: build, validate and compare bundles from the dbt manifest.

A dbt mart opts in with `config.meta.data_service` (see docs/data-services.md); descriptions and
types come from the dbt docs and contract, so the published metadata never drifts from the models.
"""
