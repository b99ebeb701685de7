from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cicd.release.parts import BundleFiles, bundle_part, files_under

# The compiled manifest of the release, also left where other build steps look for one first.
SHARED_MANIFEST = Path("build") / "dbt" / "target" / "manifest.json"
# Not part of what runs: the compatibility baseline is a gate input, the lint library a sqlfluff input.
EXCLUDE = ("baseline/*", "lint_library/*", "*.duckdb", "*.duckdb.wal", ".user.yml", "package-lock.yml")
_FIXED_TIME = "1970-01-01T00:00:00Z"


def _normalise(manifest: dict[str, Any], project_dir: Path) -> dict[str, Any]:
    """Drop what changes from one parse to the next, so an unchanged project gives the same release id."""
    manifest["metadata"].update(
        invocation_id="release-bundle",
        generated_at=_FIXED_TIME,
        invocation_started_at=_FIXED_TIME,
        run_started_at=_FIXED_TIME,
    )
    absolute = str(project_dir)

    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: 0.0 if key == "created_at" and isinstance(item, float) else scrub(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [scrub(item) for item in value]
        if isinstance(value, str) and value.startswith(absolute):
            return "." + value.removeprefix(absolute)
        return value

    return dict(scrub(manifest))


def compiled_manifest(root: Path) -> bytes:
    """`dbt parse` for the prod Snowflake target, offline (no connection is opened), normalised."""
    from cicd.dbt.manifest import read_manifest
    from cicd.dbt.offline import OFFLINE_SNOWFLAKE_ENV
    from cicd.release.bundle import BundleError
    from pipeline_assets.dbt_wap.runner import DbtWorkspace, run_dbt

    workspace = DbtWorkspace(root, "bundle")
    proc = run_dbt(workspace, ["parse", "--target", "prod", "--no-partial-parse"], extra_env=OFFLINE_SNOWFLAKE_ENV)
    if proc.returncode != 0 or not workspace.manifest_path.exists():
        tail = "\n".join(((proc.stdout or "") + (proc.stderr or "")).strip().splitlines()[-12:])
        raise BundleError(f"dbt parse for the prod target failed:\n{tail}")
    manifest = _normalise(read_manifest(workspace.manifest_path), workspace.project_dir)
    data = (json.dumps(manifest, indent=None, sort_keys=True, separators=(",", ":")) + "\n").encode()
    shared = root / SHARED_MANIFEST
    shared.parent.mkdir(parents=True, exist_ok=True)
    shared.write_bytes(data)
    return data


@bundle_part("dbt")
def dbt(root: Path) -> BundleFiles:
    """The dbt project as MWAA/Snowflake jobs run it, plus target/manifest.json compiled for prod.

    The manifest is the next release's compatibility baseline and what data services and DAGs read.
    """
    if not (root / "dbt_project" / "dbt_project.yml").exists():
        return []
    files = list(files_under(root, "dbt_project", exclude=EXCLUDE))
    files.append(("target/manifest.json", compiled_manifest(root)))
    return files
