"""`python -m cicd dags ...`: check the DAG folder, accept its task ids, add a pipeline, benchmark.

The lead's cicd/cli.py registers these with add_parser(subparsers); `python -m cicd.dags` runs
them on their own.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cicd.options import ExitCode, add_root_option


def _print_findings(findings: Sequence[Any]) -> None:
    for finding in findings:
        print(f"  {finding.severity:7} {finding.render()}")


def cmd_check(args: argparse.Namespace) -> int:
    from cicd.dags.integrity import check, timing, write_junit
    from cicd.gate.model import ToolError

    root = Path(args.root).resolve()
    try:
        run = check(root, dags_folder=Path(args.dags_folder) if args.dags_folder else None, base_ref=args.changed_since)
    except ToolError as exc:
        print(f"dags check: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    stats = timing(run.facts, run.wall_seconds)
    if args.junit:
        write_junit(run, root, Path(args.junit))
    if args.json:
        findings = [vars(f) for f in run.findings]
        print(json.dumps({"timing": stats, "findings": findings}, indent=2, default=str))
    else:
        print(
            f"{stats['dags']} DAGs in {stats['files']} files, {stats['tasks']} tasks; "
            f"parse p50 {stats['p50_seconds']:.3f} s, p95 {stats['p95_seconds']:.3f} s, "
            f"slowest {stats['slowest_file']} {stats['max_seconds']:.3f} s"
        )
        _print_findings(run.findings)
        print(f"dags check {'FAILED' if run.errors else 'passed'}: {len(run.errors)} error(s)")
    return ExitCode.FAILED if run.errors else ExitCode.OK


def cmd_baseline(args: argparse.Namespace) -> int:
    from cicd.dags import baseline
    from cicd.dags.integrity import probe_folder
    from cicd.dags.policy import load_policy

    root = Path(args.root).resolve()
    facts, _ = probe_folder(root / "dags", root=root, policy=load_policy())
    broken = [entry["path"] for entry in facts["files"] if entry["error"]]
    if broken:
        print("dags baseline: refusing to record a baseline while DAG files fail to import:", file=sys.stderr)
        for path in broken:
            print(f"  {path}", file=sys.stderr)
        return ExitCode.FAILED
    path = root / baseline.BASELINE_PATH
    before = baseline.read(path) or {}
    after = baseline.from_facts(facts)
    baseline.write(path, after)
    for dag_id in sorted(set(before) | set(after)):
        removed = sorted(set(before.get(dag_id, ())) - set(after.get(dag_id, ())))
        added = sorted(set(after.get(dag_id, ())) - set(before.get(dag_id, ())))
        if removed or added:
            print(f"  {dag_id}: +{', '.join(added) or '-'}  -{', '.join(removed) or '-'}")
    print(f"wrote {baseline.BASELINE_PATH}: {len(after)} DAGs")
    return ExitCode.OK


def cmd_new(args: argparse.Namespace) -> int:
    from cicd.dags.scaffold import ScaffoldError, write_dag_file

    try:
        path = write_dag_file(Path(args.root).resolve() / "dags", args.pipeline_id)
    except ScaffoldError as exc:
        print(f"dags new: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    print(f"wrote {path}; run `python -m cicd dags check`, then `python -m cicd dags baseline`")
    return ExitCode.OK


def cmd_bench(args: argparse.Namespace) -> int:
    from cicd.dags import bench

    result = bench.run(Path(args.root).resolve(), args.pipelines)
    t = result.timing
    if args.json:
        payload = {**t, "pipelines": result.pipelines, "generated": result.generated}
        payload |= {"total_seconds": round(result.total_seconds, 2), "errors": result.errors}
        print(json.dumps(payload, indent=2))
        return ExitCode.OK if result.meets_targets else ExitCode.FAILED

    def mark(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    print(
        f"DAG integrity benchmark: {result.pipelines} pipelines ({result.generated} generated), "
        f"{t['files']} DAG files, {t['dags']} DAGs, {t['tasks']} tasks"
    )
    rows = [
        (
            "total (probe incl. Airflow start + rules)",
            f"{result.total_seconds:.1f} s",
            f"< {bench.TARGET_TOTAL_SECONDS:.0f} s {mark(result.total_seconds < bench.TARGET_TOTAL_SECONDS)}",
        ),
        ("  Airflow import in the probe", f"{t['airflow_import_seconds']:.1f} s", ""),
        ("  parsing, sum over files", f"{t['parse_seconds']:.1f} s", ""),
        ("per-file parse p50", f"{t['p50_seconds']:.3f} s", ""),
        (
            "per-file parse p95",
            f"{t['p95_seconds']:.3f} s",
            f"< {bench.TARGET_P95_SECONDS} s {mark(t['p95_seconds'] < bench.TARGET_P95_SECONDS)}",
        ),
        ("per-file parse max", f"{t['max_seconds']:.3f} s", f"({t['slowest_file']})"),
        ("peak memory, probe process", f"{t['peak_rss_mb']:.0f} MB", ""),
        ("peak memory, largest single parse", f"{result.run.facts['peak_child_rss_mb']:.0f} MB", ""),
        ("integrity errors", str(result.errors), mark(result.errors == 0)),
    ]
    for name, value, note in rows:
        print(f"  {name:42} {value:>10}  {note}")
    if result.errors:
        _print_findings(result.run.errors[:20])
    return ExitCode.OK if result.meets_targets else ExitCode.FAILED


def _add_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="dags_command", required=True, metavar="COMMAND")

    check = commands.add_parser("check", help="parse dags/ with the real Airflow and enforce the DAG policy")
    check.add_argument("--dags-folder", help="the DAG folder to check (default: dags/)")
    check.add_argument("--changed-since", metavar="REF", help="compare task ids with the baseline as of REF")
    check.add_argument("--json", action="store_true", help="print timings and findings as JSON")
    check.add_argument("--junit", metavar="PATH", help="also write JUnit XML, one test case per DAG file")
    check.set_defaults(handler=cmd_check)

    record = commands.add_parser("baseline", help="accept the current task ids of every DAG (cicd/dags/baseline.json)")
    record.set_defaults(handler=cmd_baseline)

    new = commands.add_parser("new", help="add the DAG file for the spec dags/pipelines/<PIPELINE_ID>.yaml")
    new.add_argument("pipeline_id", help="the spec's id (its file name without .yaml)")
    new.set_defaults(handler=cmd_new)

    bench_parser = commands.add_parser("bench", help="time the integrity check on a copy grown to N pipelines")
    bench_parser.add_argument("--pipelines", type=int, default=180, help="pipelines in the copy (default: 180)")
    bench_parser.add_argument("--json", action="store_true", help="print the measurements as JSON")
    bench_parser.set_defaults(handler=cmd_bench)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `dags check|baseline|new|bench` under `python -m cicd` (the caller's parser owns --root)."""
    dags: argparse.ArgumentParser = subparsers.add_parser(
        "dags", help="DAG integrity: check, task baseline, new pipeline DAG file, benchmark"
    )
    _add_commands(dags)
    return dags


def main(argv: Sequence[str] | None = None) -> int:
    description = __doc__.splitlines()[0] if __doc__ else None
    parser = argparse.ArgumentParser(prog="python -m cicd.dags", description=description)
    add_root_option(parser)
    _add_commands(parser)
    args = parser.parse_args(argv)
    return int(args.handler(args))
