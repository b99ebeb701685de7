"""`cicd poststep integration-tests|canaries --env staging` (the pipeline's staging post-steps)."""

from __future__ import annotations

import argparse
import os
import shutil
from typing import Any

from cicd.options import ExitCode, add_env_option, error, root_of


def _session(args: argparse.Namespace) -> Any:
    import boto3

    from cicd.poststeps import steps
    from config import load_environment

    env_config = load_environment(args.env)
    role = os.environ.get("TARGET_ROLE_ARN")
    if not role:
        return boto3.Session(region_name=env_config.region)
    creds = steps.assumed_credentials(boto3.client("sts"), role, f"poststep-{args.env}")
    return boto3.Session(
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=creds["AWS_SESSION_TOKEN"],
        region_name=env_config.region,
    )


def cmd_integration(args: argparse.Namespace) -> int:
    from cicd.poststeps import steps
    from config import load_environment

    root = root_of(args)
    workdir = steps.scratch_dir()
    try:
        session = _session(args)
        variables = steps.external_test_env(
            os.environ, env_config=load_environment(args.env), secrets=session.client("secretsmanager"), workdir=workdir
        )
        credentials = session.get_credentials().get_frozen_credentials()
        variables |= {
            "AWS_ACCESS_KEY_ID": credentials.access_key,
            "AWS_SECRET_ACCESS_KEY": credentials.secret_key,
            "AWS_SESSION_TOKEN": credentials.token or "",
            "AWS_DEFAULT_REGION": session.region_name,
        }
        return steps.run_external_tests(root, variables, root / "build" / "gate" / "integration.xml")
    except steps.PostStepError as exc:
        return error("poststep integration-tests", str(exc))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def cmd_canaries(args: argparse.Namespace) -> int:
    from cicd.poststeps import steps

    names = [n for n in os.environ.get("CANARY_FUNCTIONS", "").split(",") if n]
    try:
        results = steps.run_canaries(_session(args).client("lambda"), names)
    except steps.PostStepError as exc:
        return error("poststep canaries", str(exc))
    for result in results:
        print(f"{'PASS' if result.ok else 'FAIL'}  {result.function}: {result.detail}")
    return ExitCode.OK if all(r.ok for r in results) else ExitCode.FAILED


def add_parser(commands: Any) -> None:
    poststep = commands.add_parser("poststep", help="staging post-steps: external-system tests, canaries")
    sub = poststep.add_subparsers(dest="poststep_command", required=True, metavar="SUBCOMMAND")
    for name, handler, text in (
        ("integration-tests", cmd_integration, "tests/external against the environment's S3, Snowflake and MSK"),
        ("canaries", cmd_canaries, "run every canary Lambda once and fail on any problem"),
    ):
        parser = sub.add_parser(name, help=text)
        add_env_option(parser, help_text="target environment")
        parser.set_defaults(handler=handler)
