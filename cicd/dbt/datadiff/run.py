"""Build both sides of a change on the same synthetic data and diff every selected model.

One side is built completely (the reference); the other is a copy of the reference's DuckDB file in which only
the selected nodes are rebuilt from its own project (the partial side): unselected nodes are the same SQL over
the same data on both sides, so the copy already holds them. In the gate the reference is the head that
dbt-build just built and the merge base is rebuilt; from the command line the merge base is built once and
cached by its tree, and the head (the working tree) is rebuilt on each run.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cicd.data.generate import ensure, generator_fingerprint
from cicd.dbt.datadiff.compare import Comparison, compare, export
from cicd.dbt.datadiff.keys import primary_key
from cicd.dbt.datadiff.masking import Masking
from cicd.dbt.datadiff.rebuild import PARSE_FAILED
from cicd.dbt.datadiff.selection import Selection
from cicd.dbt.offline import CI_AS_OF, load_duckdb
from platform_vocabulary.git import git as run_git

CODE_ROOT = Path(__file__).resolve().parents[3]
PROJECT = "dbt_project"
WORK = Path("build") / "datadiff"
# dbt-duckdb names the database after the file: both sides must use the same file name, or the views one side
# built would point at a database the other side's file does not have.
DATABASE_FILE = "ci.duckdb"
DBT_VARS = {"as_of": CI_AS_OF}


class DiffError(Exception):
    """The diff could not be made (git, a side that does not parse, dbt crashing): never read as no change."""


@dataclass(frozen=True)
class BuiltSide:
    project_dir: Path
    manifest: Path
    database: Path


@dataclass
class ModelDiff:
    unique_id: str
    name: str
    resource_type: str
    state: str  # added | removed | changed | unchanged | failed | not compared
    reasons: list[str]
    via: list[str]
    depth: int
    contracted: bool
    file: str | None  # where the model is declared (the YAML with its contract, else the SQL)
    meta: dict[str, Any] = field(default_factory=dict)
    comparison: Comparison | None = None
    error: str | None = None


@dataclass
class DiffRun:
    base_label: str
    head_label: str
    selection: Selection
    models: list[ModelDiff]
    timings: dict[str, float]
    tests: list[dict[str, Any]] = field(default_factory=list)  # the partial side's tests (benchmark only)
    partial_role: str = "base"
    data_label: str = ""
    built: list[dict[str, Any]] = field(default_factory=list)  # the partial side's build statuses
    partial_manifest: Path | None = None

    @property
    def changed(self) -> list[ModelDiff]:
        return [m for m in self.models if m.state in ("added", "removed", "changed")]


def git(root: Path, *args: str) -> str:
    return run_git(root, *args).or_raise(DiffError).text.strip()


def default_base(root: Path) -> str:
    """origin/main when the clone has it (CI), else main."""
    for ref in ("origin/main", "main"):
        if run_git(root, "rev-parse", "--verify", "--quiet", ref).ok:
            return ref
    raise DiffError("neither origin/main nor main exists here: give the base with --base <ref>")


def merge_base(root: Path, ref: str) -> str:
    return git(root, "merge-base", ref, "HEAD")


def export_project(root: Path, commit: str, dest: Path) -> Path:
    """The dbt project as it is at a commit, written to dest/dbt_project (git archive; no checkout touched)."""
    archived = run_git(root, "archive", commit, PROJECT).or_raise(DiffError)
    shutil.rmtree(dest / PROJECT, ignore_errors=True)
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archived.output)) as archive:
        archive.extractall(dest, filter="data")
    return dest / PROJECT


def _env(project_dir: Path, work: Path, database: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DBT_PROFILES_DIR": str(project_dir),
        "DBT_PROJECT_DIR": str(project_dir),
        "DBT_TARGET_PATH": str(work / "target"),
        "DBT_LOG_PATH": str(work / "logs"),
        "DBT_DUCKDB_PATH": str(database),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
        "DBT_USE_COLORS": "false",
        "PYTHONPATH": str(CODE_ROOT),
    }


def rebuild(
    project_dir: Path,
    work: Path,
    database: Path,
    *,
    role: str,
    other: BuiltSide | None,
    everything: bool = False,
    test: bool = False,
) -> dict[str, Any]:
    """Run cicd.dbt.datadiff.rebuild for one side; its JSON result (selection, build and test statuses, timings)."""
    out = work / "rebuild.json"
    out.unlink(missing_ok=True)
    command = [sys.executable, "-m", "cicd.dbt.datadiff.rebuild", "--project", str(project_dir), "--role", role]
    command += ["--target-path", str(work / "target"), "--vars", json.dumps(DBT_VARS), "--out", str(out)]
    if other is not None:
        command += ["--other-manifest", str(other.manifest), "--other-project", str(other.project_dir)]
    command += ["--everything"] if everything else []
    command += ["--test"] if test else []
    proc = subprocess.run(
        command,
        cwd=project_dir,
        env=_env(project_dir, work, database),
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if not out.exists():
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise DiffError(f"the {role} build of {project_dir} crashed (exit {proc.returncode}):\n{tail}")
    result: dict[str, Any] = json.loads(out.read_text())
    result["exit"] = proc.returncode
    result["output"] = (proc.stdout + proc.stderr)[-4000:]
    return result


def _copy_database(source: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", ".wal"):
        target = Path(str(dest) + suffix)
        target.unlink(missing_ok=True)
        origin = Path(str(source) + suffix)
        if origin.exists():
            shutil.copyfile(origin, target)


def build_reference(root: Path, project_dir: Path, work: Path, *, scale: int, seed: int) -> BuiltSide:
    """A side built completely on freshly loaded synthetic data."""
    database = work / DATABASE_FILE
    _copy_database(Path("/nonexistent"), database)  # removes a stale file and its WAL
    load_duckdb(database, ensure(root / "build" / "data" / f"scale-{scale}-seed-{seed}", scale=scale, seed=seed))
    result = rebuild(project_dir, work, database, role="base", other=None, everything=True)
    if result["exit"] == PARSE_FAILED:
        raise DiffError(f"{project_dir} does not parse: {result.get('error')}")
    failed = [r for r in result.get("built", []) if r["status"] not in ("success", "pass")]
    if failed or result.get("error"):
        detail = "; ".join(f"{r['unique_id']}: {r['message'][:300]}" for r in failed) or result.get("error")
        raise DiffError(f"the reference build of {project_dir} failed: {detail}")
    return BuiltSide(project_dir, Path(result["manifest"]), database)


def cached_reference(root: Path, commit: str, *, scale: int, seed: int) -> BuiltSide:
    """The merge base built once per dbt_project tree, generator and scale; rebuilt only when one of them changes."""
    tree = git(root, "rev-parse", f"{commit}:{PROJECT}")
    key = hashlib.sha256(f"{tree}:{generator_fingerprint()}:{scale}:{seed}".encode()).hexdigest()[:16]
    work = root / WORK / "reference" / key
    stamp = work / "complete.json"
    if stamp.exists():
        data = json.loads(stamp.read_text())
        return BuiltSide(Path(data["project_dir"]), Path(data["manifest"]), Path(data["database"]))
    shutil.rmtree(work, ignore_errors=True)
    project_dir = export_project(root, commit, work / "src")
    built = build_reference(root, project_dir, work, scale=scale, seed=seed)
    stamp.write_text(json.dumps({k: str(v) for k, v in built.__dict__.items()}))
    return built


def _node(manifest: dict[str, Any], uid: str) -> dict[str, Any] | None:
    node = (manifest.get("nodes") or {}).get(uid)
    return node if node and node.get("resource_type") in ("model", "seed", "snapshot") else None


def _declared_in(node: dict[str, Any]) -> str | None:
    patch = str(node.get("patch_path") or "").split("://", 1)[-1]
    return f"{PROJECT}/{patch or node.get('original_file_path')}"


def compare_sides(
    *,
    reference: BuiltSide,
    partial: BuiltSide,
    partial_role: str,
    result: dict[str, Any],
    work: Path,
    mask_key: str,
) -> list[ModelDiff]:
    """Export every selected node from both databases and diff it; the partial side's failures are reported."""
    selection = Selection.from_json(result["selection"])
    base, head = (partial, reference) if partial_role == "base" else (reference, partial)
    manifests = {"base": json.loads(base.manifest.read_text()), "head": json.loads(head.manifest.read_text())}
    built = {r["unique_id"]: r for r in result.get("built", [])}
    models: list[ModelDiff] = []
    exports: dict[str, dict[str, str]] = {"base": {}, "head": {}}
    for uid in selection.nodes:
        nodes = {side: _node(manifests[side], uid) for side in ("base", "head")}
        known = nodes["head"] or nodes["base"]
        if known is None:
            continue
        config = known.get("config") or {}
        meta = dict(known.get("meta") or {})
        meta.update(config.get("meta") or {})
        diff = ModelDiff(
            unique_id=uid,
            name=str(known.get("name")),
            resource_type=str(known.get("resource_type")),
            state="",
            reasons=selection.modified.get(uid, []),
            via=selection.downstream.get(uid, []),
            depth=selection.depth.get(uid, 0),
            contracted=bool((config.get("contract") or {}).get("enforced")),
            file=_declared_in(known),
            meta=meta,
        )
        models.append(diff)
        outcome = built.get(uid)
        if nodes[partial_role] is not None and (outcome is None or outcome["status"] not in ("success", "pass")):
            if config.get("materialized") == "ephemeral":
                diff.state, diff.error = "not compared", "ephemeral: compared through the models that read it"
            else:
                status = outcome["status"] if outcome else "not built"
                message = (outcome or {}).get("message") or result.get("error") or "see the dbt output"
                diff.state, diff.error = "failed", f"{partial_role} {status}: {message}"
            continue
        for side, node in nodes.items():
            if node is not None:
                exports[side][uid] = str(node["relation_name"])
    files = {
        side: export((base if side == "base" else head).database, exports[side], work / "export" / side)
        for side in ("base", "head")
    }
    for diff in models:
        if diff.state:
            continue
        paths = {side: files[side].get(diff.unique_id) for side in ("base", "head")}
        unreadable = [p for p in paths.values() if isinstance(p, str)]
        if unreadable:
            diff.state, diff.error = "failed", unreadable[0]
            continue
        manifest = manifests["head"] if _node(manifests["head"], diff.unique_id) else manifests["base"]
        key, _ = primary_key(manifest, diff.unique_id)
        masking = Masking([manifests["base"], manifests["head"]], diff.unique_id)
        base_file = paths["base"] if isinstance(paths["base"], Path) else None
        head_file = paths["head"] if isinstance(paths["head"], Path) else None
        diff.comparison = compare(base_file, head_file, key=key, masking=masking, mask_key=mask_key)
        if base_file is None:
            diff.state = "added"
        elif head_file is None:
            diff.state = "removed"
        else:
            diff.state = "changed" if diff.comparison.has_changes else "unchanged"
    return models


def diff_built_head(root: Path, base_ref: str, head: BuiltSide, *, data_label: str = "") -> DiffRun:
    """The gate's diff: the head is built (dbt-build); rebuild what the change touches as the merge base had it."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    commit = merge_base(root, base_ref)
    work = root / WORK / "gate"
    shutil.rmtree(work / "export", ignore_errors=True)
    project_dir = export_project(root, commit, work / "src")
    database = work / DATABASE_FILE
    _copy_database(head.database, database)
    timings["export_base"] = time.perf_counter() - started
    started = time.perf_counter()
    result = rebuild(project_dir, work, database, role="base", other=head)
    timings["rebuild_base"] = time.perf_counter() - started
    if result["exit"] == PARSE_FAILED:
        raise DiffError(f"the merge base {commit[:12]} does not parse: {result.get('error')}")
    timings.update({f"dbt_{k}": v for k, v in result.get("timings", {}).items()})
    partial = BuiltSide(project_dir, Path(result["manifest"]), database)
    started = time.perf_counter()
    models = compare_sides(
        reference=head, partial=partial, partial_role="base", result=result, work=work, mask_key=secrets.token_hex(32)
    )
    timings["compare"] = time.perf_counter() - started
    selection = Selection.from_json(result["selection"])
    run = DiffRun(f"merge base {commit[:12]} ({base_ref})", "working tree", selection, models, timings)
    run.data_label, run.built, run.partial_manifest = data_label, result.get("built", []), partial.manifest
    return run


def diff_working_tree(
    root: Path,
    base_ref: str,
    *,
    scale: int,
    seed: int,
    everything: bool = False,
    project_dir: Path | None = None,
    work: Path | None = None,
    test: bool = False,
    reference: BuiltSide | None = None,
) -> DiffRun:
    """The command line's diff: the merge base built once (cached), the working tree rebuilt where it differs."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    if reference is None:
        commit = merge_base(root, base_ref)
        reference = cached_reference(root, commit, scale=scale, seed=seed)
        base_label = f"merge base {commit[:12]} ({base_ref})"
    else:
        base_label = base_ref
    timings["reference"] = time.perf_counter() - started
    work = work or root / WORK / "head"
    shutil.rmtree(work / "export", ignore_errors=True)
    database = work / DATABASE_FILE
    started = time.perf_counter()
    _copy_database(reference.database, database)
    head_project = project_dir or root / PROJECT
    result = rebuild(head_project, work, database, role="head", other=reference, everything=everything, test=test)
    timings["rebuild_head"] = time.perf_counter() - started
    if result["exit"] == PARSE_FAILED:
        raise DiffError(f"{head_project} does not parse: {result.get('error')}")
    timings.update({f"dbt_{k}": v for k, v in result.get("timings", {}).items()})
    partial = BuiltSide(head_project, Path(result["manifest"]), database)
    started = time.perf_counter()
    models = compare_sides(
        reference=reference,
        partial=partial,
        partial_role="head",
        result=result,
        work=work,
        mask_key=secrets.token_hex(32),
    )
    timings["compare"] = time.perf_counter() - started
    selection = Selection.from_json(result["selection"])
    run = DiffRun(base_label, "working tree", selection, models, timings, partial_role="head")
    run.tests, run.built, run.partial_manifest = result.get("tests", []), result.get("built", []), partial.manifest
    run.data_label = f"synthetic data scale {scale}, seed {seed}"
    return run
