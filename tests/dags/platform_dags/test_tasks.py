"""The Python tasks: dbt write-audit-publish from the release, the publish placeholder, the supervisor."""

import json
import sys
import types
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from platform_dags import dataservice, dbt, streaming, tasks

RELEASE = {
    "release_id": "r-0123456789abcdef",
    "release_bucket": "releases-dev",
    "release_prefix": "s3://releases-dev/releases/r-0123456789abcdef",
}


class FakeTaskInstance:
    def __init__(self, release):
        self.release = release

    def xcom_pull(self, task_ids):
        assert task_ids == "resolve_release"
        return self.release


@pytest.fixture
def recording_wap(monkeypatch, tmp_path):
    """Point the dbt helper at a script that records how it was called (the re-pointing the helper exists for)."""
    record = tmp_path / "call.json"
    script = (
        "import json, os, sys; from pathlib import Path; "
        f"Path({str(record)!r}).write_text(json.dumps({{'argv': sys.argv[1:], 'cwd': os.getcwd(), "
        "'files': sorted(p.name for p in Path.cwd().iterdir())}));"
        "sys.exit(int(os.environ.get('FAKE_WAP_EXIT', '0')))"
    )
    monkeypatch.setattr(dbt, "WAP_ENTRY", ("-c", script))
    return record


def test_wap_command_is_the_shipped_dbt_wap_cli(tmp_path, monkeypatch, capsys):
    """The module the release ships in the DAG folder, with arguments its own parser accepts."""
    command = dbt.wap_command(root=tmp_path, selector="crm_accounts", target="prod", release=RELEASE)
    assert command[:5] == [sys.executable, "-m", "pipeline_assets.dbt_wap.cli", "--root", str(tmp_path)]
    from pipeline_assets.dbt_wap import cli as wap_cli

    monkeypatch.setenv("SNOWFLAKE_DATABASE", "ANALYTICS")
    assert wap_cli.main([*command[3:], "--dry-run"]) == 0
    assert "swap with" in capsys.readouterr().out
    assert command[command.index("--selector") + 1] == "crm_accounts"
    assert command[command.index("--target") + 1] == "prod"
    assert command[command.index("--release-id") + 1] == RELEASE["release_id"]


def test_failed_wap_raises_with_the_output_tail(recording_wap, monkeypatch, tmp_path):
    monkeypatch.setenv("FAKE_WAP_EXIT", "2")
    (tmp_path / "dbt_project").mkdir()
    with pytest.raises(dbt.DbtRunError, match="selector 'crm_accounts' exited 2"):
        dbt.run_wap(root=tmp_path, selector="crm_accounts", target="dev", release=RELEASE)


@mock_aws
def test_transform_runs_wap_in_the_downloaded_dbt_folder(recording_wap, monkeypatch):
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket="releases-dev", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket="releases-dev", Key="releases/r-0123456789abcdef/dbt/dbt_project.yml", Body=b"name: x")
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", "aws://")
    monkeypatch.setenv("AIRFLOW__PLATFORM__ENVIRONMENT", "staging")
    tasks.transform(selector="crm_accounts", pipeline_id="crm_accounts", ti=FakeTaskInstance(RELEASE))
    call = json.loads(recording_wap.read_text())
    assert call["files"] == ["dbt_project.yml"]
    assert Path(call["cwd"]).name == "dbt_project"
    assert call["argv"][call["argv"].index("--root") + 1] == str(Path(call["cwd"]).parent)
    assert call["argv"][call["argv"].index("--target") + 1] == "staging"
    assert not Path(call["cwd"]).exists()  # the working copy is removed after the run


def test_a_task_without_the_release_fails_clearly():
    with pytest.raises(RuntimeError, match="resolve_release"):
        tasks.publish(data_service="customer_health", pipeline_id="customer_health", ti=FakeTaskInstance(None))


def test_publish_calls_the_data_service_publisher(monkeypatch):
    calls = []
    publisher = types.SimpleNamespace(
        publish_data_service=lambda service, release_id: calls.append((service, release_id)) or {"rows": 3}
    )
    monkeypatch.setitem(sys.modules, dataservice.PUBLISHER_MODULE, publisher)
    monkeypatch.setenv("AIRFLOW__PLATFORM__ENVIRONMENT", "dev")
    result = tasks.publish(data_service="customer_health", pipeline_id="customer_health", ti=FakeTaskInstance(RELEASE))
    assert (calls, result) == ([("customer_health", RELEASE["release_id"])], {"rows": 3})


def test_publish_fails_loudly_where_the_publisher_is_not_shipped(monkeypatch):
    monkeypatch.setattr(dataservice, "PUBLISHER_MODULE", "pipeline_assets_not_shipped.dataservices.task")
    monkeypatch.setenv("AIRFLOW__PLATFORM__ENVIRONMENT", "dev")
    with pytest.raises(NotImplementedError, match="must ship where the Airflow workers import it"):
        tasks.publish(data_service="customer_health", pipeline_id="customer_health", ti=FakeTaskInstance(RELEASE))


def test_the_publisher_exists_with_the_entry_point_the_task_calls():
    import inspect

    parameters = inspect.signature(dataservice._publisher()).parameters
    assert {"service", "release_id"} <= set(parameters)


SUPERVISOR_ARGS = {
    "pipeline_id": "operations_events",
    "job_name": "operations_events_stream",
    "application_id": "00fstreamapp0001",
    "execution_role_arn": "arn:aws:iam::123456789012:role/emr-job",
    "job_driver": {"sparkSubmit": {"entryPoint": "s3://releases-dev/releases/r-0123456789abcdef/spark/x/main.py"}},
    "tags": {"pipeline": "operations_events"},
}


def test_supervisor_fails_loudly_without_the_streaming_control_module(monkeypatch):
    monkeypatch.setattr(streaming, "CONTROL_MODULES", ("streaming_control_not_installed",))
    with pytest.raises(streaming.StreamingControlMissingError, match="ensure_streaming_job"):
        streaming.ensure_streaming_job(emr_client=object(), s3_client=object(), release=RELEASE, **SUPERVISOR_ARGS)


def test_supervisor_delegates_to_streaming_control(monkeypatch):
    calls = []

    def ensure_streaming_job(**kwargs):
        calls.append(kwargs)
        return {"action": "restarted", "job_run_id": "jr-1", "release_id": kwargs["release"]["release_id"]}

    control = types.SimpleNamespace(ensure_streaming_job=ensure_streaming_job)
    monkeypatch.setitem(sys.modules, "streaming_control", control)
    client = object()
    result = streaming.ensure_streaming_job(emr_client=client, s3_client=object(), release=RELEASE, **SUPERVISOR_ARGS)
    assert result["action"] == "restarted"
    assert calls[0]["emr_client"] is client
    assert calls[0]["job_driver"] == SUPERVISOR_ARGS["job_driver"]


def test_supervisor_rejects_an_answer_without_a_job_run(monkeypatch):
    monkeypatch.setitem(
        sys.modules, "streaming_control", types.SimpleNamespace(ensure_streaming_job=lambda **_: {"action": "started"})
    )
    with pytest.raises(RuntimeError, match="expected an action and a job_run_id"):
        streaming.ensure_streaming_job(emr_client=object(), s3_client=object(), release=RELEASE, **SUPERVISOR_ARGS)


def test_streaming_control_has_the_interface_the_supervisor_calls():
    import inspect

    control = pytest.importorskip("pipeline_assets.streaming_control")
    parameters = inspect.signature(control.ensure_streaming_job).parameters
    assert {"emr_client", "s3_client", "release", "job_driver", "tags", "job_name", "application_id"} <= set(parameters)


def test_supervisor_outlasts_streaming_controls_worst_redeploy():
    """A redeploy that fails its bake and rolls back: two cancels, two starts, one bake."""
    from platform_dags.factory import SUPERVISOR_TASK_TIMEOUT

    control = pytest.importorskip("pipeline_assets.streaming_control")
    timing = control.Timing()
    worst = 2 * (timing.shutdown_grace_s + timing.cancel_timeout_s) + 2 * timing.start_timeout_s + timing.bake_s
    assert worst < SUPERVISOR_TASK_TIMEOUT.total_seconds()


@mock_aws
def test_transform_leaves_run_results_for_the_data_quality_canary_even_when_dbt_fails(monkeypatch):
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket="releases-dev", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket="releases-dev", Key="releases/r-0123456789abcdef/dbt/dbt_project.yml", Body=b"name: x")
    # A stand-in dbt run that writes run_results.json where the runner's workspace would, then fails.
    script = (
        "import sys; from pathlib import Path; "
        "root = Path(sys.argv[sys.argv.index('--root') + 1]); "
        "out = root / 'build/dbt/wap-staging/target'; out.mkdir(parents=True); "
        "(out / 'run_results.json').write_text('{\"results\": []}'); sys.exit(1)"
    )
    monkeypatch.setattr(dbt, "WAP_ENTRY", ("-c", script))
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", "aws://")
    monkeypatch.setenv("AIRFLOW__PLATFORM__ENVIRONMENT", "staging")
    with pytest.raises(dbt.DbtRunError):
        tasks.transform(
            selector="crm_accounts",
            pipeline_id="crm_accounts",
            ti=FakeTaskInstance(RELEASE),
            ts_nodash="20260301T000000",
        )
    key = "dbt-results/r-0123456789abcdef/crm_accounts/20260301T000000/run_results.json"
    assert s3.get_object(Bucket="releases-dev", Key=key)["Body"].read() == b'{"results": []}'


@pytest.fixture
def pool_session():
    """Airflow's Pool model on a real SQL engine holding only its table (`airflow db migrate` takes ~25 s)."""
    from airflow.models.pool import Pool
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    engine = create_engine("sqlite://")
    Pool.__table__.create(engine)
    with Session(engine) as session:
        yield session


def test_the_wap_pool_is_created_once_with_one_slot_and_never_resized(pool_session):
    from airflow.models.pool import Pool

    assert dbt.ensure_wap_pool(pool_session) is True
    pool = Pool.get_pool(dbt.WAP_POOL, session=pool_session)
    assert (pool.slots, pool.include_deferred) == (1, False)
    pool.slots = 3  # an operator widened it in the UI
    pool_session.commit()
    assert dbt.ensure_wap_pool(pool_session) is False
    assert Pool.get_pool(dbt.WAP_POOL, session=pool_session).slots == 3
