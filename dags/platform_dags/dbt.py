"""Run a pipeline's dbt selector in write-audit-publish mode, from the release's dbt/ folder.

The write-audit-publish logic (build and test into a release schema, then swap atomically) belongs
to `python -m cicd dbt wap`, which works on `<root>/dbt_project`; the task downloads the release's
dbt/ part there and points --root at it. This module only decides how a task calls the runner, so
re-pointing the call (another runner, another interpreter) is a change to `wap_command` alone.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from platform_dags.runtime import Release

log = logging.getLogger(__name__)

WAP_ENTRY = ("-m", "cicd")
PROJECT_FOLDER = "dbt_project"  # where `python -m cicd dbt ...` expects the project under --root
OUTPUT_TAIL_LINES = 40


class DbtRunError(RuntimeError):
    pass


def wap_command(*, root: Path, selector: str, target: str, release: Release) -> list[str]:
    return [
        sys.executable,
        *WAP_ENTRY,
        "--root",
        str(root),
        "dbt",
        "wap",
        "--target",
        target,
        "--selector",
        selector,
        "--release-id",
        release["release_id"],
    ]


def run_wap(*, root: Path, selector: str, target: str, release: Release, timeout_s: float | None = None) -> None:
    """Run write-audit-publish for the project in root/dbt_project; a non-zero exit fails the task."""
    project_dir = root / PROJECT_FOLDER
    command = wap_command(root=root, selector=selector, target=target, release=release)
    log.info("running %s", " ".join(command))
    # The environment passes through: on MWAA workers it carries DBT_EXECUTABLE (dbt's own venv, set by
    # the startup script) and the [platform] options.
    env = dict(os.environ)
    env.setdefault("DBT_PROFILES_DIR", str(project_dir))
    proc = subprocess.run(
        command, cwd=project_dir, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    for line in (proc.stdout + proc.stderr).splitlines():
        log.info("%s", line)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-OUTPUT_TAIL_LINES:])
        raise DbtRunError(f"dbt write-audit-publish of selector {selector!r} exited {proc.returncode}:\n{tail}")
