"""Run a pipeline's dbt selector in write-audit-publish mode, from the release's dbt/ folder.

The write-audit-publish logic (build and test into a release schema, then swap atomically) belongs
to `python -m cicd dbt wap`; this module only decides how a task calls it, so re-pointing the call
(another runner, another interpreter) is a change to `wap_command` alone.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from platform_dags.runtime import Release

log = logging.getLogger(__name__)

WAP_ENTRY = ("-m", "cicd", "dbt", "wap")
OUTPUT_TAIL_LINES = 40


class DbtRunError(RuntimeError):
    pass


def wap_command(*, project_dir: Path, selector: str, target: str, release: Release) -> list[str]:
    return [
        sys.executable,
        *WAP_ENTRY,
        "--selector",
        selector,
        "--project-dir",
        str(project_dir),
        "--target",
        target,
        "--release-id",
        release["release_id"],
    ]


def run_wap(*, project_dir: Path, selector: str, target: str, release: Release, timeout_s: float | None = None) -> None:
    command = wap_command(project_dir=project_dir, selector=selector, target=target, release=release)
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
