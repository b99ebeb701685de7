import copy
import json

import boto3
import pytest
from moto import mock_aws

from pipeline_assets.streaming_control import incompatibilities, retarget, sink_uris, store
from pipeline_assets.streaming_control.control import StreamingControlError


@pytest.fixture
def contract(repo_root):
    return json.loads((repo_root / "pipeline_assets/spark/operations_events_stream/query.json").read_text())


def test_same_contract_and_a_new_watermark_delay_may_resume(contract):
    assert incompatibilities(contract, copy.deepcopy(contract)) == []
    later = copy.deepcopy(contract)
    later["stateful_operators"][0]["watermark"]["delay"] = "45 minutes"  # not stored in the state
    later["sink"] = {"kind": "foreachBatch", "layout": "other"}
    assert incompatibilities(contract, later) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: c["sources"][0]["topics"].append("operations.events.v2"), "sources changed"),
        (
            lambda c: c["stateful_operators"][0]["keys"].append({"name": "kafka_topic", "type": "string"}),
            "keys changed",
        ),
        (lambda c: c["stateful_operators"][0]["keys"][0].update(type="binary"), "keys changed"),
        (lambda c: c["stateful_operators"][0].update(operator="dropDuplicates"), "operator changed"),
        (lambda c: c["stateful_operators"][0]["watermark"].update(column="occurred_at"), "watermark_column changed"),
        (
            lambda c: c["stateful_operators"].append({"operator": "groupBy", "keys": []}),
            "1 stateful operator(s) became 2",
        ),
        (lambda c: c.update(state_schema_version=2), "state_schema_version changed"),
    ],
)
def test_changes_spark_cannot_restore_are_named(contract, change, expected):
    changed = copy.deepcopy(contract)
    change(changed)
    [problem] = incompatibilities(contract, changed)
    assert expected in problem


def test_sink_default_quarantine_matches_the_spark_jobs_rule():
    from pipeline_assets.spark.common.io import default_quarantine

    driver = {
        "sparkSubmit": {
            "entryPointArguments": [
                "--pipeline-id",
                "operations_events",
                "--output",
                "s3://raw/landing/operations_events/",
            ]
        }
    }
    assert sink_uris(driver) == [
        "s3://raw/landing/operations_events/",
        default_quarantine("s3://raw/landing/operations_events/", "operations_events"),
    ]


def test_retarget_moves_every_artifact_reference_and_nothing_else():
    driver = {
        "sparkSubmit": {
            "entryPoint": "s3://rel/releases/r-1/spark/j/main.py",
            "entryPointArguments": ["--checkpoint", "s3://ckpt/j/", "--note", "s3://rel/releases/r-1/spark/j/x"],
            "sparkSubmitParameters": "--conf spark.submit.pyFiles=s3://rel/releases/r-1/spark/j/deps.zip",
        }
    }
    moved = retarget(driver, "r-1", "r-2")
    assert moved["sparkSubmit"]["entryPoint"] == "s3://rel/releases/r-2/spark/j/main.py"
    assert moved["sparkSubmit"]["sparkSubmitParameters"].endswith("releases/r-2/spark/j/deps.zip")
    assert moved["sparkSubmit"]["entryPointArguments"][:2] == ["--checkpoint", "s3://ckpt/j/"]
    assert driver["sparkSubmit"]["entryPoint"].endswith("r-1/spark/j/main.py")  # the original is untouched
    with pytest.raises(StreamingControlError, match="not under releases/r-9/"):
        retarget(driver, "r-9", "r-2")


@mock_aws
def test_last_committed_batch_and_pruning_after_a_batch():
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket="ckpt", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert store.last_committed_batch(s3, "s3://ckpt/job/") == -1
    for batch in (0, 1, 2, 10):
        s3.put_object(Bucket="ckpt", Key=f"job/commits/{batch}", Body=b"{}")
    s3.put_object(Bucket="ckpt", Key="job/commits/.10.crc", Body=b"")
    assert store.last_committed_batch(s3, "s3://ckpt/job/") == 10
    for batch in (1, 2, 3, 12):
        for part in ("_SUCCESS", "part-00000-a.snappy.parquet", "part-00001-z.snappy.parquet"):
            s3.put_object(Bucket="ckpt", Key=f"sink/{store.batch_folder(batch)}{part}", Body=b"x")
    assert store.prune_batches_after(s3, "s3://ckpt/sink", 2) == 6
    left = {o["Key"].split("/")[1] for o in s3.list_objects_v2(Bucket="ckpt", Prefix="sink/")["Contents"]}
    assert left == {"batch_id=0000000001", "batch_id=0000000002"}


def test_uris_must_be_s3():
    assert store.split_uri("s3://bucket/a/b") == ("bucket", "a/b/")
    with pytest.raises(store.StoreError, match="not an s3:// URI"):
        store.split_uri("/local/path")


def test_importable_as_a_top_level_package_beside_the_dags(repo_root, tmp_path):
    """On MWAA it ships in the DAG folder as `streaming_control`, without the repository or Spark."""
    import shutil
    import subprocess
    import sys

    shutil.copytree(
        repo_root / "pipeline_assets/streaming_control",
        tmp_path / "streaming_control",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    probe = (
        "import sys, streaming_control as sc\n"
        "assert callable(sc.ensure_streaming_job)\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        "unwanted = loaded & {'pipeline_assets', 'cicd', 'pyspark', 'boto3'}\n"
        "assert not unwanted, unwanted\n"
        "print('ok')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env={"PYTHONPATH": str(tmp_path)}, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
