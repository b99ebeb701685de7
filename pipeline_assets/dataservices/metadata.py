"""The Data Analyst Assistant 2.0 metadata JSON: render it, re-key it per published version, validate it.

Shape (from the assistant's documentation):

    {"da_version": "2.0",
     "<dataset>": {"dataframe name": "<dataset>", "description": "...",
                   "column explanations": {"<column>": "..."}}}

The build renders a template keyed by the plain dataset name. At publish time each dataset is
uploaded under a versioned name (and may be cut into parts), so the template is re-keyed to those
names before the assistant sees it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

DA_VERSION = "2.0"
SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "metadata.schema.json"


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def schema_errors(metadata: Mapping[str, Any]) -> list[str]:
    """Every way the document breaks the schema, as 'json/path: message' (empty when valid)."""
    problems = []
    for error in sorted(_validator().iter_errors(metadata), key=lambda e: list(map(str, e.absolute_path))):
        where = "/".join(str(p) for p in error.absolute_path) or "(document)"
        problems.append(f"{where}: {error.message}")
    for key, entry in metadata.items():
        if key != "da_version" and isinstance(entry, Mapping) and entry.get("dataframe name") not in (None, key):
            got = entry["dataframe name"]
            problems.append(f"{key}/dataframe name: must equal the entry's key {key!r}, got {got!r}")
    return problems


def column_explanation(description: str, assistant_type: str) -> str:
    """One column's explanation: the dbt description, then the type the CSV text parses into."""
    text = " ".join(description.split()).rstrip(".")
    return f"{text}. Type: {assistant_type}."


def dataset_entry(name: str, description: str, columns: Sequence[tuple[str, str, str]]) -> dict[str, Any]:
    """The metadata entry of one dataset; columns are (name, description, assistant type) in CSV order."""
    return {
        "dataframe name": name,
        "description": " ".join(description.split()),
        "column explanations": {col: column_explanation(desc, kind) for col, desc, kind in columns},
    }


def for_published_version(template: Mapping[str, Any], published: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """Re-key the template: dataset -> the names its parts are uploaded under.

    A dataset cut into several parts becomes several dataframes (the assistant loads one per
    file); each part's description says so, so that questions about the whole dataset combine them.
    """
    document: dict[str, Any] = {"da_version": template["da_version"]}
    for dataset, names in published.items():
        entry = template[dataset]
        for index, name in enumerate(names):
            description = entry["description"]
            if len(names) > 1:
                others = ", ".join(n for n in names if n != name)
                description = (
                    f"{description} Part {index + 1} of {len(names)} of the {dataset} dataset; the same columns "
                    f"continue in {others}. Combine all parts to answer questions about the whole dataset."
                )
            document[name] = {**entry, "dataframe name": name, "description": description}
    return document
