"""`cicd audit ...`: the evidence report, retroactive reviews, the synth step's upload and the
change's identities.

Wired into `cicd` through `add_parser(subparsers)`. Command bodies parse, call the domain function
and map the outcome to an exit code: 0 done, 1 a shown change has a failed control (`report`), a
ledger record was overwritten or deleted (`report`) or the action was refused, 2 bad input, missing
credentials or an unreadable ledger.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from cicd.options import (
    ExitCode,
    add_env_option,
    add_profile_option,
    console,
    credentials_problem,
    error,
    is_terminal,
    root_of,
)
from platform_vocabulary import naming


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from exc


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be a whole number >= 1")
    return int(value)


def _session(args: argparse.Namespace) -> Any:
    import boto3

    return boto3.Session(profile_name=getattr(args, "profile", None))


def _output_format(args: argparse.Namespace) -> str:
    if args.format:
        replacement = "--json" if args.format == "json" else "--csv" if args.format == "csv" else "no option"
        print(f"audit report: --format is deprecated; use {replacement}", file=sys.stderr)
        return str(args.format)
    return "json" if args.json else "csv" if args.csv else "md"


def _environment(env: str) -> Any | None:
    """The environment's typed config (account, evidence retention), when the config loads."""
    try:
        from config import load_environment

        return load_environment(env)
    except Exception:  # the report still works from stack names; say so instead of failing
        return None


def ledger_retention_days() -> int | None:
    """The evidence ledger's retention as app.py gives it to the ledger Lambdas (the longest of any
    environment), when the config loads: a record written with another would be locked differently."""
    try:
        from config import load_all

        config = load_all()
    except Exception:
        return None
    return naming.ledger_retention_days(env.retention.evidence_years for env in config.environments)


def cmd_report(args: argparse.Namespace, *, s3: Any | None = None) -> int:
    from cicd.audit.changes import Scope
    from cicd.audit.report import RENDERERS, build_report
    from cicd.audit.source import LedgerError, LedgerSource, LocalLedgerSource, S3LedgerSource

    bucket = args.bucket or (None if args.ledger_dir else os.environ.get("EVIDENCE_BUCKET"))
    if not bucket and not args.ledger_dir:
        return error("audit report", "give --bucket (or EVIDENCE_BUCKET) or --ledger-dir")
    source: LedgerSource = (
        LocalLedgerSource(Path(args.ledger_dir))
        if args.ledger_dir
        else S3LedgerSource(s3 or _session(args).client("s3"), str(bucket))
    )
    account = args.account
    if account is None and not args.any_account:
        config = _environment(args.env)
        account = config.account if config is not None else None
    scope = Scope(
        env=args.env,
        stage=args.stage_name or naming.stage_id(args.env),
        since=args.since,
        until=args.until or datetime.now(UTC).date(),
        account=account,
    )
    try:
        report = build_report(source, scope, sample=args.sample, seed=args.seed, lookback_days=args.lookback_days)
    except (LedgerError, ValueError) as exc:
        return error("audit report", credentials_problem(exc) or str(exc))
    output_format = _output_format(args)
    text = RENDERERS[output_format](report)
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}: {len(report.changes)} changes, {len(report.flagged)} with a failed control")
    elif output_format == "md" and is_terminal(sys.stdout):
        from rich.markdown import Markdown

        console(sys.stdout).print(Markdown(text))  # tables laid out for the terminal, not raw pipes
    else:
        sys.stdout.write(text)
    if report.tampered:
        # Evidence that was overwritten or deleted is never a passing report.
        print(
            f"audit report: TAMPERING: {len(report.tampered)} ledger record(s) have more than one version: "
            + ", ".join(report.tampered),
            file=sys.stderr,
        )
        return ExitCode.FAILED
    if report.flagged:
        print(
            f"audit report: {len(report.flagged)} of {len(report.changes)} change(s) shown have a failed control",
            file=sys.stderr,
        )
        return ExitCode.FAILED
    return ExitCode.OK


def cmd_review(args: argparse.Namespace, *, s3: Any | None = None, sts: Any | None = None) -> int:
    from cicd.audit.review import ReviewError, complete_review
    from pipeline_assets.ledger.store import EvidenceStore

    retention_days = args.retention_days
    if retention_days is None:
        retention_days = ledger_retention_days()
        if retention_days is None:
            return error("audit review", "the config does not load; pass --retention-days")
    reviewer = (sts or _session(args).client("sts")).get_caller_identity()["Arn"]
    store = EvidenceStore(s3 or _session(args).client("s3"), args.bucket, retention_days=retention_days)
    try:
        result = complete_review(
            store,
            pipeline=args.pipeline,
            execution_id=args.execution_id,
            reviewer_arn=reviewer,
            decision=args.decision,
            comment=args.comment,
            now=datetime.now(UTC),
        )
    except ReviewError as exc:
        return error("audit review refused", str(exc), ExitCode.FAILED)
    print(f"review recorded by {reviewer}: s3://{args.bucket}/{result.key}")
    return ExitCode.OK


def cmd_upload_evidence(args: argparse.Namespace, *, s3: Any | None = None) -> int:
    from cicd.audit.evidence import EvidenceError, collect, upload, upload_id

    root = root_of(args)
    try:
        evidence = collect(
            root,
            gate_report=root / args.gate_report,
            release_dir=None if args.no_release else root / args.release_dir,
            cloud_assembly=None if args.no_templates else root / args.cloud_assembly,
        )
    except EvidenceError as exc:
        return error("audit upload-evidence", str(exc))
    keys = upload(
        s3 or _session(args).client("s3"),
        args.bucket,
        pipeline=args.pipeline,
        execution_id=args.execution_id,
        evidence=evidence,
        upload=upload_id(),
    )
    for key in keys:
        print(f"uploaded s3://{args.bucket}/{key}")
    return ExitCode.OK


def add_parser(subparsers: Any) -> None:
    audit = subparsers.add_parser("audit", help="SOC 2 change evidence: report, reviews, build evidence upload")
    commands = audit.add_subparsers(dest="audit_command", required=True, metavar="AUDIT_COMMAND")

    report = commands.add_parser("report", help="every change in a period (or a random sample) with failed controls")
    add_env_option(report, help_text="environment whose changes to report")
    report.add_argument("--since", required=True, type=_date, help="first day, UTC (YYYY-MM-DD)")
    report.add_argument("--until", type=_date, help="last day, UTC, inclusive (default: today)")
    output = report.add_mutually_exclusive_group()
    output.add_argument(
        "--json", action="store_true", help="JSON for tools (default: Markdown, laid out on a terminal)"
    )
    output.add_argument("--csv", action="store_true", help="CSV for the auditor's workbook")
    output.add_argument("--format", choices=("md", "csv", "json"), help="deprecated: use --json or --csv")
    report.add_argument("--sample", type=_positive, metavar="N", help="draw a random sample of N changes")
    report.add_argument(
        "--seed", type=int, metavar="S", help="sample seed, to redraw the same sample (default: random)"
    )
    where = report.add_mutually_exclusive_group()
    where.add_argument("--bucket", help="evidence bucket (default: $EVIDENCE_BUCKET)")
    where.add_argument("--ledger-dir", metavar="DIR", help="a local copy of the bucket (holds ledger/v1/)")
    report.add_argument(
        "--stage-name",
        help="the environment's CDK Stage id (default: Dev/Staging/Prod); the report reads its approval in "
        "Approve<name> and its deploys in <name> and <name>Release",
    )
    report.add_argument("--account", help="environment account for stack changes (default: from config)")
    report.add_argument("--any-account", action="store_true", help="match stack changes by stack name only")
    report.add_argument("--lookback-days", type=_positive, default=30, help="days read before --since (default 30)")
    report.add_argument("--output", metavar="FILE", help="write the report to FILE instead of stdout")
    # Kept so that scheduled jobs written for it still parse; failing controls now always exit 1.
    report.add_argument("--strict", action="store_true", help=argparse.SUPPRESS)
    add_profile_option(report)
    report.set_defaults(handler=cmd_report)

    review = commands.add_parser("review", help="record the retroactive review of a break-glass change")
    review.add_argument("--bucket", required=True, help="evidence bucket")
    review.add_argument("--pipeline", required=True, help="pipeline name")
    review.add_argument("--execution-id", required=True, help="the break-glass pipeline execution")
    review.add_argument("--decision", required=True, choices=("accepted", "remediation-required"), help="outcome")
    review.add_argument("--comment", required=True, help="what was reviewed and what was found")
    add_env_option(review, help_text="for the evidence retention", default="prod")
    review.add_argument("--retention-days", type=_positive, help="override the retention taken from config")
    add_profile_option(
        review, "AWS profile of the delivery account; it is also the reviewer (default: the default chain)"
    )
    review.set_defaults(handler=cmd_review)

    upload = commands.add_parser("upload-evidence", help="(synth step) upload gate report, release, templates, commit")
    upload.add_argument("--bucket", required=True, help="evidence bucket")
    upload.add_argument("--pipeline", required=True, help="pipeline name")
    upload.add_argument("--execution-id", required=True, help="#{codepipeline.PipelineExecutionId}")
    upload.add_argument("--gate-report", default="build/gate/report.json", help="gate report (default: %(default)s)")
    upload.add_argument("--release-dir", default="build/release/current", help="release bundle (default: %(default)s)")
    upload.add_argument("--cloud-assembly", default="build/cdk.out", help="cdk synth output (default: %(default)s)")
    upload.add_argument("--no-release", action="store_true", help="no release bundle was built")
    upload.add_argument("--no-templates", action="store_true", help="no cloud assembly was synthesized")
    add_profile_option(upload)
    upload.set_defaults(handler=cmd_upload_evidence)
