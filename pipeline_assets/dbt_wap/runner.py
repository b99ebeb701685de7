"""Running dbt the same way everywhere: MWAA workers (write-audit-publish), the gate, the CLI and the tests.

dbt writes its target/ and logs/ under build/ (never into the source tree the release bundle copies), reads
profiles from dbt_project/, and never phones home. The release ships this module to the workers inside the
DAG folder, so it needs the standard library only; what only CI needs lives in cicd/dbt/offline.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = "dbt_project"


@dataclass(frozen=True)
class DbtWorkspace:
    """Where one kind of dbt run keeps its state: build/dbt/<name>/{target,logs,*.duckdb}."""

    root: Path
    name: str

    @property
    def project_dir(self) -> Path:
        return self.root / PROJECT_DIR

    @property
    def work_dir(self) -> Path:
        return self.root / "build" / "dbt" / self.name

    @property
    def target_path(self) -> Path:
        return self.work_dir / "target"

    @property
    def log_path(self) -> Path:
        return self.work_dir / "logs"

    @property
    def duckdb_path(self) -> Path:
        return self.work_dir / f"{self.name}.duckdb"

    @property
    def manifest_path(self) -> Path:
        return self.target_path / "manifest.json"

    @property
    def run_results_path(self) -> Path:
        return self.target_path / "run_results.json"

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        return {
            "DBT_PROFILES_DIR": str(self.project_dir),
            "DBT_PROJECT_DIR": str(self.project_dir),
            "DBT_TARGET_PATH": str(self.target_path),
            "DBT_LOG_PATH": str(self.log_path),
            "DBT_DUCKDB_PATH": str(self.duckdb_path),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DO_NOT_TRACK": "1",
            "DBT_USE_COLORS": "false",
            "DBT_PRINTER_WIDTH": "120",
            **(extra or {}),
        }


def dbt_executable() -> str:
    """dbt's own environment first: MWAA's startup script builds it apart from Airflow's and exports
    DBT_EXECUTABLE (pipeline_assets/mwaa/startup.sh); elsewhere the dbt beside this interpreter, or on PATH."""
    configured = os.environ.get("DBT_EXECUTABLE")
    if configured:
        if not Path(configured).is_file():
            raise FileNotFoundError(f"DBT_EXECUTABLE={configured} does not exist; the startup script builds it")
        return configured
    candidate = Path(sys.executable).parent / "dbt"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("dbt")
    if found is None:
        raise FileNotFoundError("dbt is not installed in this environment; run `make venv`")
    return found


def run_dbt(
    workspace: DbtWorkspace,
    args: list[str],
    *,
    extra_env: dict[str, str] | None = None,
    timeout_s: float = 900,
    on_line: Callable[[str], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the dbt CLI in its own process (the gate and the CLI; callers map the exit code).

    With `on_line`, each line dbt prints (its per-model START/OK/ERROR lines) is handed over as it
    comes, for a person watching; the result still holds the whole output (stderr merged into stdout).
    """
    env = {**os.environ, **workspace.env(extra_env)}
    command = [dbt_executable(), *args]
    if on_line is None:
        return subprocess.run(
            command,
            cwd=workspace.project_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    return _streamed(command, workspace.project_dir, env, timeout_s, on_line)


def _streamed(
    command: list[str], cwd: Path, env: dict[str, str], timeout_s: float, on_line: Callable[[str], None]
) -> subprocess.CompletedProcess[str]:
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    # Reading blocks until dbt prints; the timer ends a dbt that hangs, as subprocess.run's timeout would.
    timer = threading.Timer(timeout_s, process.kill)
    timer.start()
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            on_line(line.rstrip("\n"))
        returncode = process.wait()
    finally:
        timed_out = not timer.is_alive()
        timer.cancel()
        if process.poll() is None:  # the caller's on_line raised: leave no dbt behind
            process.kill()
            process.wait()
    output = "".join(lines)
    if timed_out:
        raise subprocess.TimeoutExpired(command, timeout_s, output=output)
    return subprocess.CompletedProcess(command, returncode, stdout=output, stderr="")
