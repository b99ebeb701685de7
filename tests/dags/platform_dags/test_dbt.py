"""The transform task's write-audit-publish process imports the package the release ships in the DAG folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cicd.release.parts import all_parts

ROOT = Path(__file__).resolve().parents[3]
RELEASE = {"release_id": "r-0123456789abcdef", "release_bucket": "b", "release_prefix": "s3://b/releases/r-x"}

# What a worker runs: platform_dags from the synced DAG folder, the subprocess call recorded instead of made.
RECORD_ENV = """
import json, subprocess, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])  # Airflow adds the DAG folder to its own sys.path
from platform_dags import dbt
seen = {}
subprocess.run = lambda command, **kw: seen.update(kw) or subprocess.CompletedProcess(command, 0, "", "")
dbt.run_wap(root=Path(sys.argv[2]), selector="s", target="t", release=json.loads(sys.argv[3]))
print(json.dumps(seen["env"].get("PYTHONPATH")))
"""


def test_the_wap_process_finds_pipeline_assets_in_the_synced_dag_folder(tmp_path):
    folder = tmp_path / "dags"
    for relative, data in all_parts()["dags"](ROOT):
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(data)
    (tmp_path / "work" / "dbt_project").mkdir(parents=True)
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    recorded = subprocess.run(
        [sys.executable, "-c", RECORD_ENV, str(folder), str(tmp_path / "work"), json.dumps(RELEASE)],
        cwd=tmp_path, env=clean, capture_output=True, text=True, check=True,
    )  # fmt: skip
    python_path = json.loads(recorded.stdout.strip().splitlines()[-1])
    imported = subprocess.run(
        [sys.executable, "-c", "import pipeline_assets.dbt_wap.cli"],
        cwd=tmp_path / "work" / "dbt_project",
        env={**clean, "PYTHONPATH": python_path or ""},
        capture_output=True,
        text=True,
    )
    assert imported.returncode == 0, imported.stderr[-800:]
