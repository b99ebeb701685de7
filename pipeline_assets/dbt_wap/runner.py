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
    candidate = Path(sys.executable).parent / "dbt"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("dbt")
    if found is None:
        raise FileNotFoundError("dbt is not installed in this environment; run `make venv`")
    return found


def run_dbt(
    workspace: DbtWorkspace, args: list[str], *, extra_env: dict[str, str] | None = None, timeout_s: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run the dbt CLI in its own process (the gate and the CLI; callers map the exit code)."""
    env = {**os.environ, **workspace.env(extra_env)}
    return subprocess.run(
        [dbt_executable(), *args],
        cwd=workspace.project_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
