"""Data-quality canary: dbt run_results.json of the active release against the previous release's, in moto S3."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline_assets.canaries.canary import data_quality
from pipeline_assets.canaries.canary.core import CanaryError

NS = "DataPlatform/DataQuality"
A, B = "r-000000000000000a", "r-000000000000000b"
FIXTURE = Path(__file__).parent / "fixtures" / "dq_project"


def results(nodes: dict[str, tuple[str, int | None]]) -> bytes:
    return json.dumps(
        {
            "metadata": {
                "dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json",
                "generated_at": "2026-01-01T00:00:00Z",
            },
            "results": [
                {
                    "unique_id": uid,
                    "status": status,
                    "adapter_response": {} if rows is None else {"rows_affected": rows},
                }
                for uid, (status, rows) in nodes.items()
            ],
        }
    ).encode()


def upload(aws, release_id: str, pipeline: str, run: str, body: bytes) -> None:
    aws["s3"].put_object(
        Bucket="canary-release-bucket", Key=f"dbt-results/{release_id}/{pipeline}/{run}/run_results.json", Body=body
    )


def invoke(aws, pipelines, now=None, **kwargs):
    now = now or datetime.now(UTC)
    return data_quality.handler(
        {"time": now.isoformat(), "pipelines": pipelines},
        None,
        s3=aws["s3"],
        ssm=aws["ssm"],
        cloudwatch=aws["cloudwatch"],
        **kwargs,
    )


BASELINE = {
    "model.p.accounts": ("success", 1000),
    "model.p.orders": ("success", 5000),
    "test.p.unique_accounts_account_id": ("pass", None),
    "test.p.not_null_orders_amount": ("fail", None),  # already failing in A: not a regression
}


def test_new_test_failures_and_row_drops_are_regressions_known_failures_are_not(aws, releases, read_metric):
    releases.activate(A)
    upload(aws, A, "crm_accounts", "old", results({"model.p.accounts": ("success", 10)}))
    upload(aws, A, "crm_accounts", "new", results(BASELINE))  # the newest run of A is the baseline
    releases.activate(B)
    upload(aws, B, "crm_accounts", "run-1", results({
        "model.p.accounts": ("success", 300),  # -70 %: a key row count dropped
        "model.p.orders": ("success", 4900),  # -2 %: normal variation
        "test.p.unique_accounts_account_id": ("fail", None),  # new failure
        "test.p.not_null_orders_amount": ("fail", None),
    }))  # fmt: skip

    summary = invoke(aws, [{"id": "crm_accounts", "max_age_minutes": 1800}])

    detail = summary["details"]["crm_accounts"]
    assert detail["baseline_release_id"] == A
    assert detail["new_failures"] == ["test.p.unique_accounts_account_id"]
    assert detail["row_drops"] == [{"model": "model.p.accounts", "baseline": 1000, "current": 300}]
    assert read_metric(NS, "DataQualityRegressions", Pipeline="crm_accounts") == 2
    assert read_metric(NS, "DataQualityFailures", Pipeline="crm_accounts") == 2
    assert read_metric(NS, "DataQualityRegressions") == 2  # the total the alarm watches
    assert read_metric(NS, "DataQualityNoBaseline", Pipeline="crm_accounts") == 0


def test_key_models_limit_the_row_count_comparison(aws, releases, read_metric):
    releases.activate(A)
    upload(aws, A, "p", "r", results(BASELINE))
    releases.activate(B)
    upload(aws, B, "p", "r", results({**BASELINE, "model.p.accounts": ("success", 1)}))
    summary = invoke(aws, [{"id": "p", "max_age_minutes": 60, "key_models": ["model.p.orders"]}])
    assert summary["details"]["p"]["row_drops"] == []
    assert read_metric(NS, "DataQualityRegressions", Pipeline="p") == 0


def test_without_a_baseline_every_failure_counts_and_it_says_so(aws, releases, read_metric):
    releases.activate(B)
    upload(aws, B, "p", "r", results({"test.p.t": ("fail", None), "model.p.m": ("success", 10)}))
    invoke(aws, [{"id": "p", "max_age_minutes": 60}])
    assert read_metric(NS, "DataQualityNoBaseline", Pipeline="p") == 1
    assert read_metric(NS, "DataQualityRegressions", Pipeline="p") == 1


def test_no_results_yet_is_pending_then_missing(aws, releases, read_metric):
    releases.activate(B)
    activated = releases.ssm.get_parameter(Name=releases.parameter)["Parameter"]["LastModifiedDate"].astimezone(UTC)

    early = invoke(aws, [{"id": "p", "max_age_minutes": 120}], now=activated + timedelta(minutes=30))
    assert early["details"]["p"] == {"results": "pending"} and early["problems"] == {}

    late = invoke(aws, [{"id": "p", "max_age_minutes": 120}], now=activated + timedelta(minutes=121))
    assert late["details"]["p"] == {"results": "missing"} and late["problems"] == {"MissingData": 1}
    assert read_metric(NS, "DataQualityResultsMissing", Pipeline="p") == 1
    assert read_metric("DataPlatform/Release", "CanaryError", Canary="data-quality", Reason="MissingData") == 1


def test_a_file_that_is_not_run_results_is_a_failure_for_that_pipeline(aws, releases, read_metric):
    releases.activate(B)
    upload(aws, B, "p", "r", b'{"results": "nope"}')
    upload(aws, B, "q", "r", results({"test.q.t": ("pass", None)}))
    summary = invoke(aws, [{"id": "p", "max_age_minutes": 60}, {"id": "q", "max_age_minutes": 60}])
    assert summary["problems"] == {"MalformedData": 1}
    assert read_metric(NS, "DataQualityCheckFailed", Pipeline="p") == 1
    assert read_metric(NS, "DataQualityFailures", Pipeline="q") == 0


def test_no_activation_history_fails_the_run(aws, releases, read_metric):
    with pytest.raises(CanaryError, match="no release was activated"):
        invoke(aws, [{"id": "p", "max_age_minutes": 60}])
    assert read_metric("DataPlatform/Release", "CanaryError", Canary="data-quality", Reason="MissingData") == 1


@pytest.mark.slow
def test_parses_the_run_results_that_real_dbt_writes(tmp_path):
    """dbt-duckdb builds a two-model fixture with one failing test; the canary reads its run_results.json."""
    project = tmp_path / "dq_project"
    shutil.copytree(FIXTURE, project)
    (project / "profiles.yml").write_text(
        "dq:\n  target: ci\n  outputs:\n    ci:\n      type: duckdb\n      path: "
        + str(tmp_path / "dq.duckdb")
        + "\n      threads: 1\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "dbt.cli.main", "build", "--project-dir", str(project), "--profiles-dir", str(project)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout[-2000:]  # the fixture's failing test fails the build
    parsed = data_quality.parse_run_results(
        json.loads((project / "target" / "run_results.json").read_text()), "fixture"
    )
    assert len(parsed.failing) == 1 and next(iter(parsed.failing)).startswith("test.dq.not_null_orders_amount")
    assert set(parsed.rows) <= {"model.dq.orders", "model.dq.accounts"}
