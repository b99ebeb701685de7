"""Fault injection on the DAG-health canary: at every API step of one run, on a release with a mixed DAG folder.

SSM, S3 and CloudWatch are moto; MWAA's InvokeRestApi is a Stubber (moto has no MWAA). The release
is active but its DAG folder holds a stray file, so a correct run reports it unhealthy: a fault that
turned that into "healthy" would be a silent pass. Invariants after each fault:
  - a run that returns reports exactly what a clean run reports;
  - a run that fails raises, and published CanaryFailed = 1 unless the fault hit PutMetricData itself
    (then Lambda's own Errors metric and the CanaryMissing alarm see it);
  - the next scheduled run without the fault reports what a clean run reports.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import boto3
from botocore.stub import ANY, Stubber

from pipeline_assets.canaries.canary import dag_health
from tests.fault_injection import faults, inject, pick, record_steps

MWAA = "test-airflow"
RELEASE = "r-aaaaaaaaaaaaaaaa"
SPECS = {f"dags/pipelines/{p}.yaml": b"id: x\n" for p in ("crm_accounts", "product_catalog")}
STUBBED = ("mwaa",)


class Canary:
    """The canary's clients; MWAA answers from a fresh Stubber per run; what it published is kept."""

    def __init__(self, aws, parsed: datetime) -> None:
        self.aws, self.parsed = aws, parsed
        self.mwaa = boto3.client("mwaa", region_name="eu-west-1")

    def clients(self) -> dict:
        return {"mwaa": self.mwaa, "ssm": self.aws["ssm"], "s3": self.aws["s3"], "cloudwatch": self.aws["cloudwatch"]}

    def stub(self) -> Stubber:
        stub = Stubber(self.mwaa)
        dags = [{"dag_id": d, "last_parsed_time": self.parsed.isoformat()} for d in ("crm_accounts", "product_catalog")]
        for path, key, items in (("/importErrors", "import_errors", []), ("/dags", "dags", dags)):
            stub.add_response(
                "invoke_rest_api",
                {"RestApiStatusCode": 200, "RestApiResponse": {key: items, "total_entries": len(items)}},
                {"Name": MWAA, "Path": path, "Method": "GET", "QueryParameters": {"limit": 100, "offset": 0}},
            )
        stub.add_response(
            "invoke_rest_api",
            {"RestApiStatusCode": 200, "RestApiResponse": {"dag_runs": [], "total_entries": 0}},
            {"Name": MWAA, "Path": "/dags/~/dagRuns", "Method": "GET", "QueryParameters": ANY},
        )
        return stub

    def run(self, now: datetime, around=None) -> object:
        metrics: list[dict] = []

        def note(params, context, **_):
            context["metric_data"] = params.get("MetricData", [])

        def keep(context, **_):  # what CloudWatch accepted (a call refused or never answered published nothing)
            metrics.extend(context.get("metric_data", []))

        cloudwatch = self.aws["cloudwatch"]
        cloudwatch.meta.events.register("before-parameter-build.cloudwatch.PutMetricData", note)
        cloudwatch.meta.events.register("after-call.cloudwatch.PutMetricData", keep)
        try:
            with self.stub():
                if around is None:
                    return self._invoke(now), metrics
                with around():
                    return self._invoke(now), metrics
        finally:
            cloudwatch.meta.events.unregister("before-parameter-build.cloudwatch.PutMetricData", note)
            cloudwatch.meta.events.unregister("after-call.cloudwatch.PutMetricData", keep)

    def _invoke(self, now: datetime) -> object:
        try:
            return dag_health.handler({"time": now.isoformat()}, None, **self.clients())
        except Exception as exc:
            return exc


def comparable(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k != "metrics_published"}


def test_every_fault_at_every_step_of_a_canary_run_is_loud_never_a_silent_pass(
    aws, releases, monkeypatch, fault_tally, no_retry_waits
):
    monkeypatch.setenv("MWAA_ENVIRONMENT_NAME", MWAA)
    releases.publish(RELEASE, SPECS)
    releases.activate_dags(RELEASE)
    aws["s3"].put_object(Bucket="canary-dag-bucket", Key="dags/stray.py", Body=b"# dropped in by hand\n")
    at = aws["ssm"].get_parameter(Name=releases.parameter)["Parameter"]["LastModifiedDate"].astimezone(UTC)
    now = at + timedelta(minutes=20)
    canary = Canary(aws, at + timedelta(minutes=1))
    tally = fault_tally("canaries")
    steps: list = []

    @contextmanager
    def recording():
        with record_steps(canary.clients()) as recorded:
            yield
        steps.extend(recorded)

    clean, _ = canary.run(now, recording)
    assert isinstance(clean, dict) and clean["healthy"] is False and clean["mixed_folder"]
    chosen = pick(steps)
    assert {s.operation for s in chosen} >= {"GetParameter", "InvokeRestApi", "ListObjectsV2", "PutMetricData"}
    for fault in faults(chosen, stubbed=STUBBED):
        tally.fault(fault)
        injected: list = []

        @contextmanager
        def injecting(fault=fault, injected=injected):
            with inject(fault, canary.clients(), stubbed=STUBBED) as injector:
                injected.append(injector)
                yield

        outcome, metrics = canary.run(now, injecting)
        tally.check("the fault was reached", injected[0].fired)
        if isinstance(outcome, dict):
            tally.check("a run that returns reports what a clean run reports", comparable(outcome) == comparable(clean))
        else:
            failed_metric = any(m["MetricName"] == "CanaryFailed" and m["Value"] == 1 for m in metrics)
            on_metrics = fault.step.operation == "PutMetricData"
            tally.check("a failed run published CanaryFailed", failed_metric or on_metrics, repr(outcome))
            health = [m["Value"] for m in metrics if m["MetricName"] == "DagHealthFailures"]
            tally.check("health it published is the clean run's", health in ([], [1.0]), f"{health} {outcome!r}")
        again, _ = canary.run(now)
        tally.check(
            "the next run reports what a clean run reports",
            isinstance(again, dict) and comparable(again) == comparable(clean),
        )
    tally.assert_all_held()
