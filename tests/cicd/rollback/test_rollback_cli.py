"""The rollback commands as `python -m cicd` will run them (the lead adds cicd.rollback.cli to COMMAND_MODULES)."""

from __future__ import annotations

import argparse
import json

import pytest

from cicd import cli as main_cli
from cicd.options import ExitCode, environment_names
from cicd.rollback import cli

from .conftest import EXEC, PIPELINE, A, B, pipeline_history


@pytest.fixture
def parser(monkeypatch):
    monkeypatch.setattr(main_cli, "COMMAND_MODULES", ("cicd.rollback.cli",))
    return main_cli.build_parser()


def test_commands_join_the_existing_release_group(parser):
    assert parser.parse_args(["release", "build"]).handler is main_cli.cmd_release_build
    status = parser.parse_args(["release", "status", "--env", "prod"])
    assert status.handler is cli.cmd_status and status.env == "prod"
    rollback = parser.parse_args(["rollback", "--env", "prod", "--to", A, "--dry-run"])
    assert (rollback.handler, rollback.to, rollback.method, rollback.dry_run) == (cli.cmd_rollback, A, "auto", True)
    with pytest.raises(SystemExit):
        parser.parse_args(["rollback", "--env", "qa"])


def test_without_a_release_group_the_module_creates_one():
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers(dest="command"))
    assert parser.parse_args(["release", "status", "--env", "dev"]).handler is cli.cmd_status


def test_the_parameter_name_rule_is_the_stage_s(monkeypatch):
    from stacks.data_platform_stage import active_release_parameter

    assert all(cli.active_release_parameter(e) == active_release_parameter(e) for e in environment_names())


@pytest.fixture
def wired(world, monkeypatch):
    env, clients, pipeline, cfn = world
    monkeypatch.setattr(cli, "resolve", lambda args: (env, clients))
    return env, clients, pipeline, cfn


def test_rollback_command_refuses_with_exit_2_and_the_reason(parser, wired, capsys):
    args = parser.parse_args(["rollback", "--env", "prod", "--to", B])
    assert args.handler(args) == cli.EXIT_REFUSED
    assert f"rollback refused: {B} is already the active release of prod" in capsys.readouterr().err


def test_rollback_command_dry_run_prints_steps_and_json(parser, wired, capsys):
    _, _, pipeline, _ = wired
    from datetime import UTC, datetime

    pipeline.add_response(
        "list_action_executions",
        {"actionExecutionDetails": pipeline_history(datetime.now(UTC))},
        {"pipelineName": PIPELINE, "maxResults": 100},
    )
    args = parser.parse_args(["rollback", "--env", "prod", "--dry-run", "--json"])
    assert args.handler(args) == ExitCode.OK
    out = capsys.readouterr()
    result = json.loads(out.out)
    assert (result["from_release"], result["to_release"], result["reference"]) == (B, A, EXEC[A])
    assert "read the release history" in out.err  # steps go to stderr under --json


def test_release_status_command_prints_the_history(parser, wired, capsys):
    _, _, pipeline, _ = wired
    from datetime import UTC, datetime

    pipeline.add_response(
        "list_action_executions",
        {"actionExecutionDetails": pipeline_history(datetime.now(UTC))},
        {"pipelineName": PIPELINE, "maxResults": 100},
    )
    args = parser.parse_args(["release", "status", "--env", "prod"])
    assert args.handler(args) == ExitCode.OK
    out = capsys.readouterr().out
    assert f"prod: active {B}" in out and f"deployed by pipeline execution {EXEC[B]}" in out
    assert f"previous release {A}" in out


def test_rollback_command_refuses_an_unrecorded_artifact_with_exit_2(parser, wired, capsys):
    from .conftest import ARTIFACT_BUCKET
    from .test_rollback import list_actions, tampered_artifact

    _, clients, pipeline, _ = wired
    from datetime import UTC, datetime

    clients.s3.put_object(Bucket=ARTIFACT_BUCKET, Key="manual/tampered.zip", Body=tampered_artifact(A))
    list_actions(pipeline, datetime.now(UTC), items=[])
    args = parser.parse_args(["rollback", "--env", "prod", "--artifact", f"s3://{ARTIFACT_BUCKET}/manual/tampered.zip"])
    assert args.handler(args) == cli.EXIT_REFUSED
    assert "not the template that release was built with" in capsys.readouterr().err


def test_the_evidence_bucket_is_an_option_of_the_rollback_command(parser):
    args = parser.parse_args(["rollback", "--env", "prod", "--evidence-bucket", "ledger-bucket"])
    assert args.evidence_bucket == "ledger-bucket"


def test_the_ledger_bucket_comes_from_the_delivery_audit_stack_when_not_given(parser, world, monkeypatch):
    # Fails on 9cf02fd: without --evidence-bucket or EVIDENCE_BUCKET the template fallback refused to run.
    import boto3

    monkeypatch.delenv("EVIDENCE_BUCKET", raising=False)
    cloudformation = boto3.client("cloudformation", region_name="eu-west-1")
    for stack, output, value in (
        ("Prod-Storage", "ReleaseBucketName", "prod-release-bucket"),
        (cli.DELIVERY_AUDIT_STACK, "EvidenceBucketName", "delivery-evidence-bucket"),
    ):
        template = {
            "Resources": {
                "Marker": {
                    "Type": "AWS::SSM::Parameter",
                    "Properties": {"Name": f"/marker/{stack}", "Type": "String", "Value": "x"},
                }
            },
            "Outputs": {output: {"Value": value}},
        }
        cloudformation.create_stack(StackName=stack, TemplateBody=json.dumps(template))

    env, _ = cli.resolve(parser.parse_args(["rollback", "--env", "prod"]))

    assert (env.release_bucket, env.evidence_bucket) == ("prod-release-bucket", "delivery-evidence-bucket")


def test_an_unreadable_delivery_audit_stack_leaves_the_ledger_to_the_option(parser, world, monkeypatch):
    monkeypatch.delenv("EVIDENCE_BUCKET", raising=False)
    args = parser.parse_args(["rollback", "--env", "prod", "--release-bucket", "b"])
    env, _ = cli.resolve(args)
    assert env.evidence_bucket is None  # the fallback then refuses naming --evidence-bucket
