"""`python -m cicd dbt ...`: build on synthetic data, schema compatibility, baseline, write-audit-publish, masking.

Command bodies parse, call the domain function, print and map the result to an exit code: 0 ok, 1 the
check found problems (or the audit failed), 2 usage or environment errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from cicd.dbt import compat, mask
from cicd.dbt.build import DEFAULT_SCALE, DEFAULT_SEED, DbtToolError, build_duckdb, parse_project
from cicd.gate.model import Finding
from cicd.options import ExitCode, root_of
from pipeline_assets.dbt_wap import wap
from pipeline_assets.dbt_wap.cli import add_wap_parser


def _print_findings(findings: list[Finding]) -> None:
    for finding in findings:
        print(("WARN  " if finding.severity == "warning" else "ERROR ") + finding.render())


def cmd_build(args: argparse.Namespace) -> int:
    try:
        outcome = build_duckdb(
            root_of(args), scale=args.scale, seed=args.seed, selector=args.selector, select=args.select, threads=2
        )
    except (DbtToolError, FileNotFoundError) as exc:
        print(f"dbt build: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    _print_findings(outcome.findings)
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in outcome.timings.items())
    print(f"{'passed' if outcome.passed else 'FAILED'}: {outcome.nodes} nodes on DuckDB ({timings})")
    return ExitCode.OK if outcome.passed else ExitCode.FAILED


def cmd_compat(args: argparse.Namespace) -> int:
    root = root_of(args)
    try:
        current = Path(args.manifest) if args.manifest else parse_project(root)
        baseline = compat.resolve_baseline(root, Path(args.baseline) if args.baseline else None)
        if baseline is None:
            print("no baseline manifest; run `python -m cicd dbt baseline` first", file=sys.stderr)
            return ExitCode.USAGE
        report = compat.check(
            compat.load_manifest(baseline), compat.load_manifest(current), root / compat.ACKNOWLEDGEMENTS
        )
    except (compat.CompatError, DbtToolError) as exc:
        print(f"dbt compat: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    if args.json:
        print(json.dumps({"baseline": str(baseline), "findings": [f.__dict__ for f in report.findings]}, indent=2))
    else:
        _print_findings(report.findings)
        print(f"{len(report.changes)} breaking change(s), {len(report.acknowledged)} acknowledged, vs {baseline}")
    return ExitCode.FAILED if [f for f in report.findings if f.severity == "error"] else ExitCode.OK


def _fetch(source: str, into: Path) -> Path:
    if not source.startswith("s3://"):
        return Path(source)
    import boto3

    bucket, _, key = source.removeprefix("s3://").partition("/")
    boto3.client("s3").download_file(bucket, key, str(into))
    return into


def cmd_baseline(args: argparse.Namespace) -> int:
    root = root_of(args)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if args.source:
                manifest = _fetch(args.source, Path(tmp) / "manifest.json")
                out = Path(args.out) if args.out else root / compat.RELEASE_BASELINE
            else:
                manifest = parse_project(root)
                out = Path(args.out) if args.out else root / compat.COMMITTED_BASELINE
            written = compat.write_baseline(manifest, out)
    except (OSError, ValueError, DbtToolError) as exc:
        print(f"dbt baseline: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    print(f"baseline written to {written}")
    return ExitCode.OK


def cmd_mask(args: argparse.Namespace) -> int:
    try:
        job = mask.MaskJob(args.source_database, args.target_database)
        tables = mask.load_tables(Path(args.manifest))
        if args.dry_run:
            for table in tables:
                print(";\n".join(job.copy_sql(table)) + ";\n")
            return ExitCode.OK
        key = mask.masking_key(dict(os.environ), args.key_variable)
        executor = wap.snowflake_executor(wap.connect_from_env(dict(os.environ)))
        result = mask.run(job, tables, key=key, executor=executor)
    except (mask.MaskError, OSError, KeyError, ValueError) as exc:
        print(f"dbt mask: {exc}", file=sys.stderr)
        return ExitCode.FAILED if isinstance(exc, mask.MaskError) else ExitCode.USAGE
    for name, rows in result.tables.items():
        print(f"{name:36} {rows:>12,} rows masked")
    return ExitCode.OK


def add_parser(subparsers: Any) -> None:
    dbt = subparsers.add_parser("dbt", help="dbt on synthetic data, schema compatibility, write-audit-publish, masking")
    commands = dbt.add_subparsers(dest="dbt_command", required=True, metavar="COMMAND")

    build = commands.add_parser(
        "build", help="dbt build every model on DuckDB with synthetic data (what the gate runs)"
    )
    build.add_argument("--scale", type=int, default=DEFAULT_SCALE, help="synthetic data scale (default 1)")
    build.add_argument("--seed", type=int, default=DEFAULT_SEED, help="synthetic data seed (default 42)")
    build.add_argument("--selector", help="a selector from dbt_project/selectors.yml (a pipeline)")
    build.add_argument("--select", help="a dbt --select expression")
    build.set_defaults(handler=cmd_build)

    check = commands.add_parser("compat", help="breaking changes of contracted models vs the baseline manifest")
    check.add_argument("--baseline", help="baseline manifest (default: last release's if fetched, else committed)")
    check.add_argument("--manifest", help="current manifest (default: `dbt parse` the project)")
    check.add_argument("--json", action="store_true", help="print findings as JSON")
    check.set_defaults(handler=cmd_compat)

    baseline = commands.add_parser("baseline", help="write the compatibility baseline (slim manifest)")
    baseline.add_argument(
        "--from",
        dest="source",
        help="a released manifest (path or s3://<release bucket>/releases/<id>/dbt/target/manifest.json); "
        "default: parse the working tree and refresh the committed baseline",
    )
    baseline.add_argument("--out", help="where to write it (default: build/dbt/baseline/ with --from, else committed)")
    baseline.set_defaults(handler=cmd_baseline)

    add_wap_parser(commands)

    masking = commands.add_parser("mask", help="copy raw sources with PII masked, inside prod, for staging")
    masking.add_argument("--manifest", required=True, help="the release's dbt manifest (sources and their PII tags)")
    masking.add_argument("--source-database", default="raw", help="database with the raw sources (default raw)")
    masking.add_argument("--target-database", default="raw_masked", help="database staging reads (default raw_masked)")
    masking.add_argument(
        "--key-variable",
        default=mask.KEY_VARIABLE,
        help=f"environment variable holding the HMAC key, filled from the masking secret (default {mask.KEY_VARIABLE})",
    )
    masking.add_argument("--dry-run", action="store_true", help="print the SQL instead of running it")
    masking.set_defaults(handler=cmd_mask)
