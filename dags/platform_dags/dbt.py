"""Run a pipeline's dbt selector in write-audit-publish mode, from the release's dbt/ folder.

The write-audit-publish logic (build and test into a release schema, then swap atomically) belongs
to `python -m pipeline_assets.dbt_wap.cli`, which the release ships inside the DAG folder (MWAA workers have
nothing else) and which works on `<root>/dbt_project`; the task downloads the release's dbt/ part
there and points --root at it. This module only decides how a task calls the runner, so
re-pointing the call (another runner, another interpreter) is a change to `wap_command` alone.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from platform_dags.runtime import Release

log = logging.getLogger(__name__)

WAP_ENTRY = ("-m", "pipeline_assets.dbt_wap.cli")
# Every pipeline's publish swaps the same marts schema after cloning it: two at once would lose one
# publish (pipeline_assets/dbt_wap/wap.py). One slot serialises them across all DAGs; cicd/dags/policy.yaml
# names the same pool, so the DAG integrity gate fails a write-audit-publish task outside it.
WAP_POOL = "dbt_write_audit_publish"
WAP_POOL_SLOTS = 1
WAP_POOL_DESCRIPTION = "dbt write-audit-publish: one publish at a time (platform_dags/dbt.py)"
PROJECT_FOLDER = "dbt_project"  # where the runner expects the project under --root
OUTPUT_TAIL_LINES = 40
# The DAG folder: the release ships pipeline_assets/dbt_wap there (cicd/release/parts/dags.py). Airflow puts
# it on its own sys.path, never on a child process's, so `python -m pipeline_assets.dbt_wap.cli` must be told.
DAG_FOLDER = Path(__file__).resolve().parents[1]


class DbtRunError(RuntimeError):
    pass


def ensure_wap_pool(session: Any) -> bool:
    """Create the write-audit-publish pool when it is missing (True when created); never resize it.

    Airflow leaves a task whose pool does not exist in `scheduled` for ever, and no release step can
    create pools on MWAA, so the first task of each DAG run (resolve_release) makes sure it exists.
    An operator who resizes the pool in the UI keeps their size.
    """
    from airflow.models.pool import Pool

    if Pool.get_pool(WAP_POOL, session=session) is not None:
        return False
    Pool.create_or_update_pool(WAP_POOL, WAP_POOL_SLOTS, WAP_POOL_DESCRIPTION, include_deferred=False, session=session)
    return True


def wap_command(*, root: Path, selector: str, target: str, release: Release) -> list[str]:
    return [
        sys.executable,
        *WAP_ENTRY,
        "--root",
        str(root),
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
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(DAG_FOLDER), env.get("PYTHONPATH"))))
    proc = subprocess.run(
        command, cwd=project_dir, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    for line in (proc.stdout + proc.stderr).splitlines():
        log.info("%s", line)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-OUTPUT_TAIL_LINES:])
        raise DbtRunError(f"dbt write-audit-publish of selector {selector!r} exited {proc.returncode}:\n{tail}")


RESULTS_PREFIX = "dbt-results"


def run_results_path(root: Path, target: str) -> Path:
    # Where pipeline_assets.dbt_wap.runner's workspace for `wap-<target>` keeps dbt's target/ folder.
    return root / "build" / "dbt" / f"wap-{target}" / "target" / "run_results.json"


def upload_run_results(
    s3_client: Any, *, root: Path, target: str, release: Release, pipeline_id: str, run: str
) -> str | None:
    """Put dbt's run_results.json where the data-quality canary reads it; None when dbt wrote none."""
    path = run_results_path(root, target)
    if not path.exists():
        log.warning("dbt wrote no run_results.json for %s (%s): nothing for the data-quality canary", pipeline_id, path)
        return None
    key = f"{RESULTS_PREFIX}/{release['release_id']}/{pipeline_id}/{run}/run_results.json"
    s3_client.put_object(Bucket=release["release_bucket"], Key=key, Body=path.read_bytes())
    return key
