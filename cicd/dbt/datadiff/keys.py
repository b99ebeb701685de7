"""A model's primary key for the diff, from what the project already declares about it.

In this order: `meta.data_diff.key` (an explicit choice), a `primary_key` constraint (model or column level), a
column tested `unique` and `not_null`, a `unique_combination_of_columns` test, a column tested `unique`. dbt's
own `primary_key` inference would combine every unique column into one key (product_id and sku), which turns a
changed sku into a row removed and a row added; one tested column keeps it a changed value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _tests(manifest: Mapping[str, Any], unique_id: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for node in (manifest.get("nodes") or {}).values():
        if node.get("resource_type") != "test" or node.get("attached_node") != unique_id:
            continue
        if ((node.get("config") or {}).get("enabled")) is False:
            continue
        metadata = node.get("test_metadata") or {}
        kwargs = dict(metadata.get("kwargs") or {})
        if node.get("column_name") and "column_name" not in kwargs:
            kwargs["column_name"] = node["column_name"]
        found.append((str(metadata.get("name") or ""), kwargs))
    return found


def primary_key(manifest: Mapping[str, Any], unique_id: str) -> tuple[list[str], str]:
    """(key columns, where they come from); no columns when the project declares no key."""
    node = (manifest.get("nodes") or {}).get(unique_id) or {}
    meta = dict(node.get("meta") or {})
    meta.update((node.get("config") or {}).get("meta") or {})
    explicit = (meta.get("data_diff") or {}).get("key") if isinstance(meta.get("data_diff"), dict) else None
    if explicit:
        columns = [explicit] if isinstance(explicit, str) else [str(c) for c in explicit]
        return [c.lower() for c in columns], "meta.data_diff.key"
    for constraint in node.get("constraints") or []:
        if constraint.get("type") == "primary_key" and constraint.get("columns"):
            return [str(c).lower() for c in constraint["columns"]], "primary_key constraint"
    columns = [str(c.get("name") or n).lower() for n, c in (node.get("columns") or {}).items()]
    for name, column in (node.get("columns") or {}).items():
        if any(c.get("type") == "primary_key" for c in column.get("constraints") or []):
            return [str(column.get("name") or name).lower()], "primary_key constraint"
    tests = _tests(manifest, unique_id)
    single = [(t, str(k["column_name"]).lower()) for t, k in tests if isinstance(k.get("column_name"), str)]
    unique = [column for test, column in single if test == "unique"]
    not_null = {column for test, column in single if test == "not_null"}
    ordered = sorted(unique, key=lambda c: columns.index(c) if c in columns else len(columns))
    for column in ordered:
        if column in not_null:
            return [column], "unique + not_null tests"
    for test, kwargs in tests:
        combination = kwargs.get("combination_of_columns")
        if test == "unique_combination_of_columns" and isinstance(combination, list) and combination:
            return [str(c).lower() for c in combination], "unique_combination_of_columns test"
    if ordered:
        return [ordered[0]], "unique test"
    return [], "none"
