"""Read the compiled dbt manifest (target/manifest.json), and compile it with `dbt parse` when needed.

Only what the data services need is read: models, their description, contract, relation, the
opt-in meta and per column the description, data_type, tags and meta. Column tags and meta are
read from both places dbt 1.10+ writes them (the column itself and its `config`).
"""

from __future__ import annotations

import fcntl
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cicd.dbt.manifest import ManifestError as DbtManifestError
from cicd.dbt.manifest import parse_manifest_bytes
from cicd.dbt.offline import OFFLINE_SNOWFLAKE_ENV
from platform_vocabulary.findings import ToolError
from platform_vocabulary.tools import run_tool

DBT_DIR = "dbt_project"
# The manifest the release's dbt part compiles (prod target, offline, normalised): the release part
# reads it, so the bundles describe exactly the release's models. The gate check parses on its own
# (same target) instead, because the release build may be rewriting this file while the check runs.
SHARED_MANIFEST = Path("build") / "dbt" / "target" / "manifest.json"
# Where our own `dbt parse` writes; kept so that dbt's partial parsing makes the next run fast.
OWN_TARGET = Path("build") / "dataservices" / "dbt-target"
# Always the same target, so a rebuild of an unchanged repository gives byte-identical bundles: the
# production target, whose relation names (database and schema) are the ones the publish task reads.
# Its credentials are placeholders: `dbt parse` renders profiles but never connects.
PARSE_TARGET = "prod"
OFFLINE_ENV = OFFLINE_SNOWFLAKE_ENV
META_KEY = "data_service"


class ManifestError(Exception):
    pass


@dataclass(frozen=True)
class ColumnNode:
    name: str
    description: str
    data_type: str | None
    tags: frozenset[str]
    meta: Mapping[str, Any]


@dataclass(frozen=True)
class ModelNode:
    unique_id: str
    name: str
    description: str
    database: str | None
    schema: str
    alias: str
    contract_enforced: bool
    meta: Mapping[str, Any]
    columns: dict[str, ColumnNode]
    file: str  # repository-relative path of the YAML that documents the model (or its SQL)
    sql_file: str

    @property
    def declaration(self) -> Any:
        return self.meta.get(META_KEY)


@dataclass(frozen=True)
class Manifest:
    path: Path
    project: str
    models: tuple[ModelNode, ...]
    schema_version: str = ""
    sha256: str = field(default="", compare=False)

    def declared(self) -> list[ModelNode]:
        return [m for m in self.models if m.declaration is not None]


def _merged(*parts: Any) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in parts:
        if isinstance(part, Mapping):
            merged.update(part)
    return merged


def _repo_path(dbt_dir: str, package_path: str | None, fallback: str) -> str:
    # patch_path looks like "<project>://models/marts/crm/_crm__models.yml"
    if package_path and "://" in package_path:
        return f"{dbt_dir}/{package_path.split('://', 1)[1]}"
    return f"{dbt_dir}/{fallback}"


def _column(raw: Mapping[str, Any]) -> ColumnNode:
    config = raw.get("config") or {}
    tags = {str(t).lower() for t in [*(raw.get("tags") or []), *(config.get("tags") or [])]}
    return ColumnNode(
        name=str(raw.get("name", "")),
        description=str(raw.get("description") or ""),
        data_type=raw.get("data_type") or None,
        tags=frozenset(tags),
        meta=_merged(raw.get("meta"), config.get("meta")),
    )


def load(path: Path, *, dbt_dir: str = DBT_DIR) -> Manifest:
    import hashlib

    try:
        data = path.read_bytes()
        document = parse_manifest_bytes(data, path)
    except OSError as exc:
        raise ManifestError(f"cannot read the dbt manifest {path}: {exc}") from exc
    except DbtManifestError as exc:
        raise ManifestError(str(exc)) from exc
    metadata = document.get("metadata") or {}
    models = []
    for unique_id, node in sorted((document.get("nodes") or {}).items()):
        if node.get("resource_type") != "model":
            continue
        config = node.get("config") or {}
        contract = _merged(config.get("contract"), node.get("contract"))
        sql_file = f"{dbt_dir}/{node.get('original_file_path', '')}"
        models.append(
            ModelNode(
                unique_id=unique_id,
                name=str(node.get("name")),
                description=str(node.get("description") or ""),
                database=node.get("database"),
                schema=str(node.get("schema") or ""),
                alias=str(node.get("alias") or node.get("name")),
                contract_enforced=bool(contract.get("enforced")),
                meta=_merged(node.get("meta"), config.get("meta")),
                columns={name: _column(col) for name, col in (node.get("columns") or {}).items()},
                file=_repo_path(dbt_dir, node.get("patch_path"), node.get("original_file_path", "")),
                sql_file=sql_file,
            )
        )
    return Manifest(
        path=path,
        project=str(metadata.get("project_name") or ""),
        models=tuple(models),
        schema_version=str(metadata.get("dbt_schema_version") or ""),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def newest_source(dbt_root: Path) -> float:
    skip = {"target", "logs", "dbt_packages"}
    newest = 0.0
    for path in dbt_root.rglob("*"):
        rel = path.relative_to(dbt_root)
        if path.is_file() and not skip.intersection(rel.parts):
            newest = max(newest, path.stat().st_mtime)
    return newest


def is_fresh(manifest: Path, newest_source: float) -> bool:
    return manifest.exists() and manifest.stat().st_mtime >= newest_source


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    # The gate runs checks in parallel and the release part parses too: one dbt parse at a time.
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def locate_or_compile(root: Path, *, dbt_dir: str = DBT_DIR, target: str = PARSE_TARGET) -> Path:
    """Our own manifest, re-parsed with `dbt parse` when any file of the dbt project is newer than it."""
    root = root.resolve()
    dbt_root = root / dbt_dir
    if not (dbt_root / "dbt_project.yml").exists():
        raise ManifestError(f"{dbt_dir}/dbt_project.yml not found: there is no dbt project to read data services from")
    work = root / OWN_TARGET
    manifest = work / "manifest.json"
    newest = newest_source(dbt_root)
    with _lock(work.parent / ".parse.lock"):
        # Checked under the lock: a parallel check may have parsed while we waited.
        stamp = work / ".target"
        fresh = manifest.exists() and manifest.stat().st_mtime >= newest
        if fresh and stamp.exists() and stamp.read_text() == f"{dbt_dir}:{target}":
            return manifest
        dbt = str(Path(sys.executable).parent / "dbt")
        args = [dbt, "parse", "--project-dir", str(dbt_root), "--profiles-dir", str(dbt_root), "--target", target]
        proc = run_tool(
            [*args, "--target-path", str(work), "--log-path", str(work.parent / "dbt-logs")],
            cwd=dbt_root,
            env={**OFFLINE_ENV, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"},
            timeout_s=300,
            ok_codes=(0, 1, 2),  # 1 and 2 are dbt's "the project is broken": reported below with its message
        )
        if proc.returncode != 0 or not manifest.exists():
            lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "Warning" not in ln and ln.strip()]
            tail = "\n".join(lines[-12:])
            raise ToolError(f"dbt parse failed, so the data services cannot be read:\n{tail}")
        stamp.write_text(f"{dbt_dir}:{target}")
    return manifest
