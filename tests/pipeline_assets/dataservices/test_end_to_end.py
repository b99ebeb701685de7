"""From a dbt mart to a published assistant revision: dbt build on DuckDB, bundle, export, publish."""

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from cicd.dataservices.build import build
from cicd.dataservices.manifest import load
from pipeline_assets.dataservices.client import GeaiClient
from pipeline_assets.dataservices.publisher import Timing, publish_service
from pipeline_assets.dataservices.state import PublishState

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "dataservices"


@pytest.mark.slow
def test_a_dbt_mart_reaches_the_assistant(tmp_path, geai, s3_state):
    stub, url = geai
    database = tmp_path / "warehouse.duckdb"
    dbt = Path(sys.executable).parent / "dbt"
    project = FIXTURES / "dbt_project"
    proc = subprocess.run(
        [
            str(dbt),
            "build",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
            "--target",
            "prod",
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "logs"),
        ],
        env={**os.environ, "DATASERVICES_FIXTURE_DUCKDB": str(database), "DO_NOT_TRACK": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:]

    result = build(load(tmp_path / "target" / "manifest.json", dbt_dir="tests/fixtures/dataservices/dbt_project"))
    assert result.findings == []
    bundle = result.bundles["customer_health"]

    with duckdb.connect(str(database), read_only=True) as warehouse:
        published = publish_service(
            bundle,
            assistant_id=stub.assistant_id,
            client=GeaiClient(url, stub.token, backoff_s=0.01),
            state=PublishState(s3_state, "release-bucket", "dataservices-state/ci/"),
            cursor=warehouse.cursor(),
            work_dir=tmp_path / "work",
            timing=Timing(poll_interval_s=0.01, load_timeout_s=5),
        )

    [name] = published.files["customer_health"]
    lines = stub.files[f"{name}.csv"].decode().splitlines()
    assert lines[0].split(",") == [c.name for c in bundle.service.datasets[0].columns]
    assert lines[1:] == [
        "acc_001,Acme Corp,enterprise,82.5,healthy,false,1,2026-11-20T10:15:00,2026-11-27",
        'acc_002,"Globex, Inc.",mid_market,41.0,at_risk,true,7,2026-10-02T08:00:00,2026-11-27',
        "acc_003,Initech,smb,63.25,watch,false,3,2026-11-25T17:45:30,2026-11-27",
        "acc_004,Umbrella,enterprise,,unknown,false,0,,2026-11-27",
    ]
    metadata = json.loads(stub.active.value("metadata"))
    assert metadata[name]["column explanations"]["health_band"].startswith("Health score band")
