"""`cicd changeset review`: the prod stage's automated change-set review step."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cicd.options import ExitCode, add_profile_option


def _client(role_arn: str | None, region: str | None, profile: str | None = None) -> Any:
    import boto3

    session = boto3.Session(profile_name=profile)
    if not role_arn:
        return session.client("cloudformation", region_name=region)
    creds = session.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="changeset-review")["Credentials"]
    return boto3.client(
        "cloudformation",
        region_name=region,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def cmd_review(args: argparse.Namespace, cfn: Any = None) -> int:
    from cicd.changeset.review import review

    cfn = cfn or _client(args.role_arn, args.region, getattr(args, "profile", None))
    failed = False
    for stack in args.stack:
        violations = review(cfn, stack, args.change_set)
        for violation in violations:
            print(f"{violation.rule} {violation}", file=sys.stderr)
        failed |= bool(violations)
        verdict = "REJECTED" if violations else "ok"
        print(f"{stack}: {verdict} ({len(violations)} stateful replacement(s) or locked change(s))")
    return ExitCode.FAILED if failed else ExitCode.OK


def add_parser(commands: Any) -> None:
    changeset = commands.add_parser("changeset", help="CloudFormation change-set review").add_subparsers(
        dest="changeset_command", required=True, metavar="SUBCOMMAND"
    )
    parser = changeset.add_parser("review", help="fail if a prepared change set replaces or deletes stateful resources")
    parser.add_argument("--stack", action="append", required=True, help="stack name (repeatable)")
    parser.add_argument("--change-set", default="PipelineChange", help="change set name (CDK Pipelines' default)")
    parser.add_argument("--role-arn", help="role to assume in the target account (the CDK lookup role)")
    parser.add_argument("--region", help="region of the stacks")
    add_profile_option(parser)
    parser.set_defaults(handler=cmd_review)
