"""The rollback drill end to end (real activator, moto S3/SSM), and that its checks catch what they claim to."""

from __future__ import annotations

import pytest

from cicd.rollback import drill


@pytest.mark.parametrize("path", ["pipeline", "template"])
def test_drill_rolls_back_to_a_byte_identical_dag_folder(path, repo_root):
    result = drill.run_scenario(path, repo_root, echo=lambda _: None)

    assert result["path"] == path and result["release_a"] != result["release_b"]
    assert result["checks"]["changed_parameters"] == [drill.PARAMETER]
    assert result["checks"]["objects_rewritten_in_dag_folder"] == 4  # 1 changed, 1 restored, 2 removed again
    assert result["measured_local_seconds"]["rollback_command"] > 0
    model = result["modeled_cloud_seconds"]
    assert model["low"] < model["high"] and all(step["source"] for step in model["steps"])
    if path == "template":
        assert result["fallback_reason"].startswith("UnableToRollbackStageException")


def test_verify_catches_a_write_outside_the_dag_folder(repo_root):
    files_a, _ = drill.release_files(repo_root)
    with drill.moto_environment() as (s3, ssm):
        release_a = drill.upload(s3, files_a)
        drill.ReleaseLane(s3, ssm).deploy(release_a)
        before = drill.snapshot(s3, ssm)
        s3.put_object(Bucket=drill.DAG_BUCKET, Key="requirements.txt", Body=b"apache-airflow==0.0.1\n")
        with pytest.raises(drill.DrillFailedError, match="objects outside the DAG folder changed"):
            drill.verify(s3, ssm, before, files_a, release_a)


def test_verify_catches_a_dag_folder_that_is_not_a(repo_root):
    files_a, files_b = drill.release_files(repo_root)
    with drill.moto_environment() as (s3, ssm):
        release_a, release_b = drill.upload(s3, files_a), drill.upload(s3, files_b)
        lane = drill.ReleaseLane(s3, ssm)
        lane.deploy(release_a)
        before = drill.snapshot(s3, ssm)
        lane.deploy(release_b)
        with pytest.raises(drill.DrillFailedError, match="DAG folder is not A's"):
            drill.verify(s3, ssm, before, files_a, release_a)


def test_the_drill_command_prints_measured_and_modeled_numbers(capsys):
    assert drill.main(["--path", "template"]) == 0
    out = capsys.readouterr().out
    assert "measured locally (moto)" in out and "modeled cloud time" in out and "source:" in out
    assert "verified: DAG folder byte-identical to A" in out
