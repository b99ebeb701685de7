"""Reading a dbt manifest.json: one place that turns a missing or broken file into an error a person can act on.

The compatibility check, the data-service build and the release bundle each read a manifest; each
used to call json.loads on it with its own (or no) handling of a missing file or a non-manifest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIX = "run `dbt parse` (or `make validate`, which writes build/dbt/target/manifest.json) and point at that file"


class ManifestError(ValueError):
    pass


def parse_manifest_bytes(data: bytes, path: Path | str) -> dict[str, Any]:
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise ManifestError(f"cannot read the dbt manifest {path}: not JSON ({exc}); {FIX}") from exc
    if not isinstance(document, dict) or not ({"nodes", "sources"} & document.keys()):
        raise ManifestError(f"{path} is not a dbt manifest (it has no nodes or sources); {FIX}")
    return document


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest as dbt wrote it; ManifestError names the file, what is wrong and how to get a good one."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"cannot read the dbt manifest {path}: {exc.strerror or exc}; {FIX}") from exc
    return parse_manifest_bytes(data, path)
