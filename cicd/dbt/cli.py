"""`cicd dbt ...`: build on synthetic data, schema compatibility, data diff, baseline, write-audit-publish,
masking, bench.

Command bodies parse, call the domain function, print and map the result to an exit code: 0 ok, 1 the
check found problems (or the audit failed), 2 usage or environment errors.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cicd.dbt import DEFAULT_SCALE, DEFAULT_SEED, mask
from cicd.options import ExitCode, add_json_option, add_profile_option, error, print_json, root_of, step
from pipeline_assets.dbt_wap.cli import add_wap_parser

if TYPE_CHECKING:
    from platform_vocabulary.findings import Finding


def _print_findings(findings: list[Finding]) -> None:
    for finding in findings:
        print(("WARN  " if finding.severity == "warning" else "ERROR ") + finding.render())


def _parse_project(root: Path) -> Path:
    from cicd.dbt.build import parse_project

    with step("dbt parse"):
        return parse_project(root)


def cmd_build(args: argparse.Namespace) -> int:
    from cicd.dbt.build import DbtToolError, build_duckdb

    try:
        with step("dbt build on DuckDB (synthetic data, then every selected model and test)") as show:
            outcome = build_duckdb(
                root_of(args),
                scale=args.scale,
                seed=args.seed,
                selector=args.selector,
                select=args.select,
                threads=2,
                on_line=show,
            )
    except (DbtToolError, FileNotFoundError) as exc:
        return error("dbt build", str(exc))
    if args.json:
        print_json(
            {
                "passed": outcome.passed,
                "nodes": outcome.nodes,
                "timings_s": {k: round(v, 2) for k, v in outcome.timings.items()},
                "findings": [f.__dict__ for f in outcome.findings],
            }
        )
    else:
        _print_findings(outcome.findings)
        timings = ", ".join(f"{k} {v:.1f}s" for k, v in outcome.timings.items())
        print(f"{'passed' if outcome.passed else 'FAILED'}: {outcome.nodes} nodes on DuckDB ({timings})")
    return ExitCode.OK if outcome.passed else ExitCode.FAILED


def cmd_compat(args: argparse.Namespace) -> int:
    from cicd.dbt import compat
    from cicd.dbt.build import DbtToolError

    root = root_of(args)
    try:
        current = Path(args.manifest) if args.manifest else _parse_project(root)
        baseline = compat.resolve_baseline(root, Path(args.baseline) if args.baseline else None)
        if baseline is None:
            return error("dbt compat", "no baseline manifest; run `cicd dbt baseline` first")
        report = compat.check(
            compat.load_manifest(baseline), compat.load_manifest(current), root / compat.ACKNOWLEDGEMENTS
        )
    except (compat.CompatError, DbtToolError) as exc:
        return error("dbt compat", str(exc))
    if args.json:
        print_json({"baseline": str(baseline), "findings": [f.__dict__ for f in report.findings]})
    else:
        _print_findings(report.findings)
        print(f"{len(report.changes)} breaking change(s), {len(report.acknowledged)} acknowledged, vs {baseline}")
    return ExitCode.FAILED if [f for f in report.findings if f.severity == "error"] else ExitCode.OK


def cmd_diff(args: argparse.Namespace) -> int:
    from cicd.dbt.datadiff import report
    from cicd.dbt.datadiff.run import DiffError, default_base, diff_working_tree
    from cicd.dbt.datadiff.verdict import ACKNOWLEDGEMENTS, decide

    root = root_of(args)
    try:
        base = args.base or default_base(root)
        with step(f"data diff: working tree vs the merge base with {base}"):
            run = diff_working_tree(root, base, scale=args.scale, seed=args.seed, everything=args.everything)
    except DiffError as exc:
        return error("dbt diff", str(exc))
    verdict = decide(run.models, root / ACKNOWLEDGEMENTS)
    written = report.write(run, verdict, Path(args.out) if args.out else root / "build" / "datadiff" / "report")
    print(report.render_json(run, verdict) if args.json else report.render_markdown(run, verdict))
    print(f"reports: {', '.join(str(p) for p in written.values())}", file=sys.stderr)
    errors = [finding for finding in verdict.findings if finding.severity == "error"]
    return ExitCode.FAILED if verdict.failing or errors else ExitCode.OK


def cmd_diff_bench(args: argparse.Namespace) -> int:
    from cicd.dbt.datadiff import bench

    return bench.main(root_of(args), only=args.only, limit=args.limit, json_out=args.json)


def _fetch(source: str, into: Path, profile: str | None) -> Path:
    if not source.startswith("s3://"):
        return Path(source)
    import boto3

    bucket, _, key = source.removeprefix("s3://").partition("/")
    boto3.Session(profile_name=profile).client("s3").download_file(bucket, key, str(into))
    return into


def cmd_baseline(args: argparse.Namespace) -> int:
    from cicd.dbt import compat
    from cicd.dbt.build import DbtToolError

    root = root_of(args)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if args.source:
                manifest = _fetch(args.source, Path(tmp) / "manifest.json", args.profile)
                out = Path(args.out) if args.out else root / compat.RELEASE_BASELINE
            else:
                manifest = _parse_project(root)
                out = Path(args.out) if args.out else root / compat.COMMITTED_BASELINE
            written = compat.write_baseline(manifest, out)
    except (OSError, ValueError, DbtToolError) as exc:
        return error("dbt baseline", str(exc))
    print(f"baseline written to {written}")
    return ExitCode.OK


def cmd_bench(args: argparse.Namespace) -> int:
    from cicd.dbt import bench

    return bench.run_from_args(args)


def cmd_mask(args: argparse.Namespace) -> int:
    from pipeline_assets.dbt_wap import wap

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
        return error("dbt mask", str(exc), ExitCode.FAILED if isinstance(exc, mask.MaskError) else ExitCode.USAGE)
    for name, rows in result.tables.items():
        print(f"{name:36} {rows:>12,} rows masked")
    return ExitCode.OK


def add_parser(subparsers: Any) -> None:
    dbt = subparsers.add_parser(
        "dbt", help="dbt on synthetic data, schema compatibility, data diff, write-audit-publish, masking"
    )
    commands = dbt.add_subparsers(dest="dbt_command", required=True, metavar="COMMAND")

    build = commands.add_parser(
        "build", help="dbt build every model on DuckDB with synthetic data (what the gate runs)"
    )
    build.add_argument("--scale", type=int, default=DEFAULT_SCALE, help="synthetic data scale (default 1)")
    build.add_argument("--seed", type=int, default=DEFAULT_SEED, help="synthetic data seed (default 42)")
    build.add_argument("--selector", help="a selector from dbt_project/selectors.yml (a pipeline)")
    build.add_argument("--select", help="a dbt --select expression")
    add_json_option(build, "print the outcome as JSON (dbt's progress stays on stderr)")
    build.set_defaults(handler=cmd_build)

    check = commands.add_parser("compat", help="breaking changes of contracted models vs the baseline manifest")
    check.add_argument("--baseline", help="baseline manifest (default: last release's if fetched, else committed)")
    check.add_argument("--manifest", help="current manifest (default: `dbt parse` the project)")
    add_json_option(check, "print findings as JSON")
    check.set_defaults(handler=cmd_compat)

    diff = commands.add_parser(
        "diff", help="value diff of every changed model (and what reads it) vs the merge base, on synthetic data"
    )
    diff.add_argument("--base", help="git ref whose merge base with HEAD is the base (default origin/main, else main)")
    diff.add_argument("--everything", action="store_true", help="diff every model, not only the changed ones")
    diff.add_argument("--scale", type=int, default=DEFAULT_SCALE, help="synthetic data scale (default 1)")
    diff.add_argument("--seed", type=int, default=DEFAULT_SEED, help="synthetic data seed (default 42)")
    diff.add_argument("--out", help="folder for data-diff.{md,json,html} (default build/datadiff/report)")
    add_json_option(diff, "print the JSON report instead of the Markdown")
    diff.set_defaults(handler=cmd_diff)

    bench = commands.add_parser(
        "diff-bench", help="mutation benchmark: one-line SQL changes, what the data diff shows vs the gate catches"
    )
    bench.add_argument("--only", action="append", help="run only this mutation id (repeatable)")
    bench.add_argument("--limit", type=int, help="run only the first N mutations")
    bench.add_argument("--json", help="also write the results as JSON to this file")
    bench.set_defaults(handler=cmd_diff_bench)

    baseline = commands.add_parser("baseline", help="write the compatibility baseline (slim manifest)")
    baseline.add_argument(
        "--from",
        dest="source",
        help="a released manifest (path or s3://<release bucket>/releases/<id>/dbt/target/manifest.json); "
        "default: parse the working tree and refresh the committed baseline",
    )
    baseline.add_argument("--out", help="where to write it (default: build/dbt/baseline/ with --from, else committed)")
    add_profile_option(baseline, "AWS profile to read an s3:// --from with (default: the default chain)")
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

    from cicd.dbt import bench  # standard library and psutil at import

    timing = commands.add_parser("bench", help="time and peak memory of each dbt gate step at given data scales")
    bench.add_arguments(timing)
    timing.set_defaults(handler=cmd_bench)
