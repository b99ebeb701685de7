"""Build and test every dbt model on synthetic data: DuckDB (the gate's main run) and the Snowflake emulator.

Both return what happened as findings plus timings; the gate checks, `cicd dbt build` and the
benchmark all call these, so a developer reproduces the gate's dbt run with one command.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cicd.data.generate import ensure
from cicd.dbt import DEFAULT_SCALE, DEFAULT_SEED
from cicd.dbt.dialect import check_compiled
from cicd.dbt.emulator import OFFLINE_COMPILE_FAILED
from cicd.dbt.offline import CI_AS_OF, OFFLINE_SNOWFLAKE_ENV, load_duckdb, read_json
from cicd.dbt.results import findings_from_output, findings_from_run
from pipeline_assets.dbt_wap.runner import DbtWorkspace, run_dbt
from platform_vocabulary.findings import Finding

# Where the cicd package lives (the emulator runs as `python -m cicd.dbt.emulator` from the project folder).
CODE_ROOT = Path(__file__).resolve().parents[2]


class DbtToolError(Exception):
    """dbt itself could not run (crash, missing install): never to be read as a pass."""


@dataclass
class DbtOutcome:
    returncode: int
    findings: list[Finding] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    nodes: int = 0
    output: str = ""
    manifest: Path | None = None

    @property
    def passed(self) -> bool:
        return self.returncode == 0 and not [f for f in self.findings if f.severity == "error"]


def data_dir(root: Path, scale: int, seed: int) -> Path:
    return root / "build" / "data" / f"scale-{scale}-seed-{seed}"


def _selection(selector: str | None, select: str | None) -> list[str]:
    args: list[str] = []
    if selector:
        args += ["--selector", selector]
    if select:
        args += ["--select", select]
    return args


def _interpret(
    proc: subprocess.CompletedProcess[str], workspace: DbtWorkspace, *, where: str, started_at: float
) -> DbtOutcome:
    output = (proc.stdout or "") + (proc.stderr or "")
    outcome = DbtOutcome(returncode=proc.returncode, output=output, manifest=workspace.manifest_path)
    results_path = workspace.run_results_path
    # run_results.json is rewritten by every invocation that gets as far as running nodes; an older one
    # belongs to a previous run and must not be read.
    fresh = results_path.exists() and results_path.stat().st_mtime >= started_at
    if proc.returncode == 0:
        outcome.nodes = len(read_json(results_path).get("results", [])) if fresh else 0
        return outcome
    if fresh and workspace.manifest_path.exists():
        run_results = read_json(results_path)
        outcome.nodes = len(run_results.get("results", []))
        outcome.findings = findings_from_run(run_results, read_json(workspace.manifest_path), where=where)
    if not outcome.findings:
        outcome.findings = findings_from_output(output, where=where)
    if not outcome.findings:
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise DbtToolError(f"dbt exited {proc.returncode} on {where} without a readable result:\n{tail}")
    return outcome


def build_duckdb(
    root: Path,
    *,
    scale: int = DEFAULT_SCALE,
    seed: int = DEFAULT_SEED,
    selector: str | None = None,
    select: str | None = None,
    workspace_name: str = "ci",
    threads: int = 2,
    fresh_database: bool = True,
    on_line: Callable[[str], None] | None = None,
) -> DbtOutcome:
    """Generate (or reuse) synthetic data, load it into a fresh DuckDB file, `dbt build` every model.

    `on_line` receives dbt's output lines as dbt prints them (the CLI shows them to a person watching).
    """
    workspace = DbtWorkspace(root, workspace_name)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    data = ensure(data_dir(root, scale, seed), scale=scale, seed=seed)
    timings["generate"] = time.perf_counter() - started
    if fresh_database:
        workspace.duckdb_path.unlink(missing_ok=True)
    started = time.perf_counter()
    load_duckdb(workspace.duckdb_path, data)
    timings["load"] = time.perf_counter() - started
    started, started_at = time.perf_counter(), time.time() - 1
    args = ["build", "--target", "ci", "--threads", str(threads), "--vars", json.dumps({"as_of": CI_AS_OF})]
    proc = run_dbt(workspace, args + _selection(selector, select), on_line=on_line)
    timings["dbt_build"] = time.perf_counter() - started
    outcome = _interpret(proc, workspace, where="DuckDB", started_at=started_at)
    outcome.timings = timings
    return outcome


def build_snowflake_emulated(
    root: Path,
    *,
    scale: int = DEFAULT_SCALE,
    seed: int = DEFAULT_SEED,
    selector: str | None = None,
    offline_target: str | None = "prod",
) -> DbtOutcome:
    """Compile for a real Snowflake target offline, then `dbt build` on fakesnow, in one process.

    Unit tests are left out on the emulator: dbt-snowflake runs them through a temporary table in the
    model's database, which fakesnow rejects (they run on DuckDB; see docs/dbt.md).
    """
    emulator = DbtWorkspace(root, "fakesnow")
    offline = DbtWorkspace(root, "offline")
    data = ensure(data_dir(root, scale, seed), scale=scale, seed=seed)
    command = [sys.executable, "-m", "cicd.dbt.emulator", "--data", str(data)]
    if offline_target:
        command += ["--offline-compile", offline_target, "--offline-target-path", str(offline.target_path)]
    # --exclude-resource-type, not --exclude: dbt ignores --exclude when a --selector is given.
    dbt_args = ["build", "--target", "fakesnow", "--threads", "1", "--exclude-resource-type", "unit_test"]
    dbt_args += ["--vars", json.dumps({"as_of": CI_AS_OF}), *_selection(selector, None)]
    offline.env()  # creates its folder
    # dbt never deletes compiled SQL of removed models; the dialect check must only read this run's.
    shutil.rmtree(offline.target_path / "compiled", ignore_errors=True)
    started, started_at = time.perf_counter(), time.time() - 1
    proc = subprocess.run(
        [*command, "--", *dbt_args],
        cwd=emulator.project_dir,
        env={**os.environ, **emulator.env(OFFLINE_SNOWFLAKE_ENV), "PYTHONPATH": str(CODE_ROOT)},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if proc.returncode == OFFLINE_COMPILE_FAILED:
        where, workspace = f"Snowflake target {offline_target} (offline compile)", offline
    else:
        where, workspace = "the Snowflake emulator (fakesnow)", emulator
    outcome = _interpret(proc, workspace, where=where, started_at=started_at)
    if workspace is emulator:
        # The emulator runs SQL on DuckDB and accepts DuckDB-only functions: read the prod-compiled SQL as Snowflake.
        outcome.findings += check_compiled(offline.target_path / "compiled")
    outcome.timings = {"snowflake_compile_and_emulated_build": elapsed}
    return outcome


def parse_project(root: Path, *, target: str = "ci") -> Path:
    """`dbt parse` into build/dbt/parse/target: the manifest of the working tree, no database needed."""
    workspace = DbtWorkspace(root, "parse")
    proc = run_dbt(workspace, ["parse", "--target", target])
    if proc.returncode != 0 or not workspace.manifest_path.exists():
        findings = findings_from_output((proc.stdout or "") + (proc.stderr or ""), where=f"target {target}")
        detail = "; ".join(f.render() for f in findings) or "\n".join((proc.stdout or "").splitlines()[-10:])
        raise DbtToolError(f"dbt parse failed: {detail}")
    return workspace.manifest_path
