"""`cicd dataservice build|validate|publish|baseline`: data services from the command line.

Wired in through `cicd.dataservices.cli` in cicd/cli.py's COMMAND_MODULES; each command body parses,
calls one domain function and maps the result to an exit code.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cicd.options import ExitCode, add_env_option, add_json_option, add_profile_option, error, print_json, root_of, step


def _manifest(args: argparse.Namespace, root: Path) -> Path:
    from cicd.dataservices.manifest import locate_or_compile

    if args.manifest:
        return Path(args.manifest)
    with step("locating or compiling the dbt manifest"):
        return locate_or_compile(root)


def _print_findings(findings: list[Any]) -> None:
    for finding in findings:
        print(f"{finding.severity.upper():7} {finding.render()}")


def cmd_build(args: argparse.Namespace) -> int:
    from cicd.dataservices.build import build
    from cicd.dataservices.manifest import load

    root = root_of(args)
    result = build(load(_manifest(args, root)), root)
    _print_findings(result.findings)
    out = Path(args.out) if args.out else root / "build" / "dataservices" / "bundle"
    for name, bundle in sorted(result.bundles.items()):
        for file, data in bundle.files().items():
            (out / name).mkdir(parents=True, exist_ok=True)
            (out / name / file).write_bytes(data)
        datasets = ", ".join(f"{d.name} ({len(d.columns)} columns)" for d in bundle.service.datasets)
        print(f"{name:24} -> {bundle.service.assistant}: {datasets}  [{out / name}]")
    return ExitCode.FAILED if result.errors else ExitCode.OK


def cmd_validate(args: argparse.Namespace) -> int:
    from cicd.dataservices.validate import validate

    root = root_of(args)
    with step("validating the data services (compiles the dbt manifest when needed)"):
        validation = validate(
            root,
            manifest_path=Path(args.manifest) if args.manifest else None,
            baseline_dir=Path(args.baseline) if args.baseline else None,
        )
    if args.json:
        print_json(
            {
                "passed": not validation.errors,
                "services": sorted(validation.result.bundles),
                "findings": [
                    {
                        "rule": f.rule,
                        "severity": f.severity,
                        "message": f.message,
                        "file": f.file,
                        "line": f.line,
                        "fix": f.fix,
                    }
                    for f in validation.findings
                ],
            }
        )
    else:
        _print_findings(validation.findings)
        services = ", ".join(sorted(validation.result.bundles)) or "none"
        verdict = "FAILED" if validation.errors else "passed"
        print(f"data services {verdict}: {len(validation.errors)} error(s); valid services: {services}")
    return ExitCode.FAILED if validation.errors else ExitCode.OK


def cmd_baseline(args: argparse.Namespace) -> int:
    from cicd.dataservices import compat
    from cicd.dataservices.build import build
    from cicd.dataservices.manifest import load

    root = root_of(args)
    result = build(load(_manifest(args, root)), root)
    if result.errors:
        _print_findings(result.errors)
        return error("dataservice baseline", "baseline not written: fix the contract errors first", ExitCode.FAILED)
    for path in compat.write_baselines(result.bundles, root / compat.COMMITTED_BASELINE):
        print(f"wrote {path.relative_to(root)}")
    return ExitCode.OK


@contextmanager
def _snowflake_cursor(environment: str, session: Any) -> Iterator[Any]:
    """A Snowflake cursor with the environment's service user (key pair from Secrets Manager)."""
    import snowflake.connector
    from cryptography.hazmat.primitives import serialization

    from config import load_environment

    settings = load_environment(environment).snowflake
    secret = session.client("secretsmanager").get_secret_value(SecretId=settings.private_key_secret_name)[
        "SecretString"
    ]
    pem = json.loads(secret).get("private_key", "") if secret.lstrip().startswith("{") else secret
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    connection = snowflake.connector.connect(
        account=settings.account,
        user=settings.user,
        role=settings.role,
        warehouse=settings.warehouse,
        database=settings.database,
        private_key=der,
    )
    try:
        cursor = connection.cursor()
        yield cursor
        cursor.close()
    finally:
        connection.close()


def cmd_publish(args: argparse.Namespace) -> int:
    import boto3

    from config import load_environment
    from pipeline_assets.dataservices.client import GeaiError
    from pipeline_assets.dataservices.publisher import PublishError
    from pipeline_assets.dataservices.task import ConfigurationError, Settings, publish_from_aws

    session = boto3.Session(profile_name=args.profile, region_name=load_environment(args.env).region)
    settings = Settings(args.env, args.release_bucket, args.active_release_parameter or "", args.secret_name)
    if not args.release_id and not args.active_release_parameter:
        return error("dataservice publish", "give --release-id or --active-release-parameter")
    try:
        result = publish_from_aws(
            args.service,
            settings,
            s3=session.client("s3"),
            ssm=session.client("ssm"),
            secrets=session.client("secretsmanager"),
            connect=lambda: _snowflake_cursor(args.env, session),
            release_id=args.release_id,
            schema=args.schema,
        )
    except (GeaiError, PublishError, ConfigurationError) as exc:
        return error("dataservice publish", f"{args.service} to {args.env} failed: {exc}", ExitCode.FAILED)
    if args.json:
        print_json(result.as_dict())
    else:
        print(f"{result.outcome}: {result.publish_key[:12]}")
    return ExitCode.OK


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "dataservice", help="Globant Enterprise AI data services: build, validate, publish, baseline"
    )
    commands = parser.add_subparsers(dest="dataservice_command", required=True, metavar="COMMAND")

    def manifest_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--manifest", metavar="PATH", help="dbt manifest.json (default: compile dbt_project with dbt parse)"
        )

    build = commands.add_parser("build", help="write each service's bundle (service, metadata, glossary, contract)")
    manifest_option(build)
    build.add_argument("--out", metavar="DIR", help="output folder (default: build/dataservices/bundle)")
    build.set_defaults(handler=cmd_build)

    validate = commands.add_parser("validate", help="check contracts and breaking changes, as the gate does")
    manifest_option(validate)
    validate.add_argument(
        "--baseline",
        metavar="DIR",
        help="last published contracts: a release's dataservices/ folder "
        "(default: the committed cicd/dataservices/baseline)",
    )
    add_json_option(validate, "print the findings as JSON")
    validate.set_defaults(handler=cmd_validate)

    baseline = commands.add_parser("baseline", help="refresh cicd/dataservices/baseline from the current models")
    manifest_option(baseline)
    baseline.set_defaults(handler=cmd_baseline)

    publish = commands.add_parser("publish", help="export and publish one service of a release (needs AWS access)")
    add_env_option(publish, help_text="target environment")
    publish.add_argument("--service", required=True, help="data service name (the folder under dataservices/)")
    publish.add_argument("--release-bucket", required=True, help="bucket holding releases/<id>/ and publish markers")
    publish.add_argument("--secret-name", required=True, help="Secrets Manager secret with the GEAI connection")
    publish.add_argument("--release-id", help="release to publish (default: the active one)")
    publish.add_argument("--active-release-parameter", help="SSM parameter naming the active release")
    publish.add_argument("--schema", help="Snowflake schema of the mart, when it differs from the manifest's")
    add_json_option(publish)
    add_profile_option(publish)
    publish.set_defaults(handler=cmd_publish)
    return parser
