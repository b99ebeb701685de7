"""`cicd dags ...`: check the DAG folder, accept its task ids, scaffold a pipeline, benchmark.

cicd/cli.py registers these with add_parser(subparsers); `python -m cicd.dags` is `cicd dags`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cicd.options import ExitCode, add_json_option, error, print_json, root_of, step


def _print_findings(findings: Sequence[Any]) -> None:
    for finding in findings:
        print(f"  {finding.severity:7} {finding.render()}")


def cmd_check(args: argparse.Namespace) -> int:
    from cicd.dags.integrity import check, timing, write_junit
    from platform_vocabulary.findings import ToolError

    root = root_of(args)
    try:
        with step("parsing the DAG folder with Airflow and applying the DAG policy"):
            run = check(
                root, dags_folder=Path(args.dags_folder) if args.dags_folder else None, base_ref=args.changed_since
            )
    except ToolError as exc:
        return error("dags check", str(exc))
    stats = timing(run.facts, run.wall_seconds)
    if args.junit:
        write_junit(run, root, Path(args.junit))
    if args.json:
        print_json({"timing": stats, "findings": [vars(f) for f in run.findings]})
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

    root = root_of(args)
    with step("parsing the DAG folder with Airflow"):
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
    from cicd.dags import scaffold
    from cicd.dags.policy import load_policy

    root = root_of(args)
    dags = root / "dags"
    spec, dag_file = scaffold.spec_path(dags, args.pipeline_id), dags / f"{args.pipeline_id}.py"
    written: list[Path] = []
    try:
        scaffold.check_pipeline_id(args.pipeline_id)
        if dag_file.exists():
            where = f"{_rel(dag_file, root)} already exists"
            raise scaffold.ScaffoldError(f"{where}; change the pipeline in {_rel(spec, root)}")
        policy = load_policy()
        if not spec.exists():
            choices = _scaffold_choices(args, root, policy.owners)
            spec.parent.mkdir(parents=True, exist_ok=True)
            spec.write_text(scaffold.spec_source(choices))
            written.append(spec)
        written.append(scaffold.write_dag_file(dags, args.pipeline_id))
        recorded = _record_new_dags(root, spec, dag_file, policy)
    except scaffold.ScaffoldError as exc:
        for path in written:  # leave the tree as it was
            path.unlink(missing_ok=True)
        return error("dags new", str(exc))
    if args.json:
        print_json({"written": [_rel(p, root) for p in written], "baseline": recorded})
        return ExitCode.OK
    for path in written:
        print(f"wrote {_rel(path, root)}")
    for dag_id, tasks in recorded.items():
        print(f"recorded DAG {dag_id} in {_baseline_path()}: {', '.join(tasks)}")
    todo = f"fix the TODO lines in {_rel(spec, root)}, " if spec in written else ""
    files = ", ".join([*(_rel(p, root) for p in written), _baseline_path()])
    print(f"next: {todo}run `cicd dags check`, then commit {files}")
    return ExitCode.OK


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def _baseline_path() -> str:
    from cicd.dags.baseline import BASELINE_PATH

    return BASELINE_PATH


def _scaffold_choices(args: argparse.Namespace, root: Path, owners: Sequence[str]) -> Any:
    from cicd.dags import scaffold
    from cicd.dags.integrity import dbt_selectors, spark_jobs

    return scaffold.resolve_choices(
        args.pipeline_id,
        source=args.source,
        domain=args.domain,
        owner=args.owner,
        spark_job=args.spark_job,
        dbt_selector=args.dbt_selector,
        owners=owners,
        spark_jobs=spark_jobs(root) or {},
        dbt_selectors=dbt_selectors(root) or frozenset(),
    )


def _record_new_dags(root: Path, spec: Path, dag_file: Path, policy: Any) -> dict[str, list[str]]:
    """Parse the folder with Airflow, refuse if the new pipeline does not load, add its DAGs to the baseline.

    Only the new pipeline's DAGs are added: a change to any other DAG is for `cicd dags baseline` to
    accept knowingly, never a side effect of adding a pipeline.
    """
    from cicd.dags import baseline
    from cicd.dags.integrity import probe_folder
    from cicd.dags.scaffold import ScaffoldError

    with step("parsing the DAG folder with Airflow to record the new pipeline's task ids"):
        facts, _ = probe_folder(root / "dags", root=root, policy=policy)
    entry = next((s for s in facts["specs"] if Path(s["path"]).resolve() == spec.resolve()), None)
    if entry is None or entry["problems"]:
        problems = "; ".join(f"line {p['line']}: {p['message']}" for p in (entry or {}).get("problems", []))
        raise ScaffoldError(f"{_rel(spec, root)} does not validate: {problems or 'not found by the probe'}")
    broken = [f for f in facts["files"] if Path(f["path"]).resolve() == dag_file.resolve() and f["error"]]
    if broken:
        raise ScaffoldError(f"{_rel(dag_file, root)} does not import: {broken[0]['error']['message']}")
    tasks = {dag["dag_id"]: sorted(t["task_id"] for t in dag["tasks"]) for dag in facts["dags"]}
    missing = [dag_id for dag_id in entry["dag_ids"] if dag_id not in tasks]
    if missing:
        raise ScaffoldError(f"{_rel(dag_file, root)} defines no DAG {', '.join(missing)}")
    path = root / baseline.BASELINE_PATH
    accepted = baseline.read(path) or {}
    taken = [dag_id for dag_id in entry["dag_ids"] if dag_id in accepted]
    if taken:
        raise ScaffoldError(f"dag_id {', '.join(taken)} is already in {baseline.BASELINE_PATH}: choose another id")
    recorded = {dag_id: tasks[dag_id] for dag_id in entry["dag_ids"]}
    baseline.write(path, {**accepted, **{dag_id: tuple(ids) for dag_id, ids in recorded.items()}})
    return recorded


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


def _complete_owners(**_: Any) -> list[str]:
    from cicd.dags.policy import load_policy

    return list(load_policy().owners)


def _complete_spark_jobs(**_: Any) -> list[str]:
    from cicd.dags.integrity import spark_jobs

    return sorted(spark_jobs(root_of(argparse.Namespace())) or {})


def _complete_selectors(**_: Any) -> list[str]:
    from cicd.dags.integrity import dbt_selectors

    return sorted(dbt_selectors(root_of(argparse.Namespace())) or ())


def _add_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="dags_command", required=True, metavar="COMMAND")

    check = commands.add_parser("check", help="parse dags/ with the real Airflow and enforce the DAG policy")
    check.add_argument("--dags-folder", help="the DAG folder to check (default: dags/)")
    check.add_argument("--changed-since", metavar="REF", help="compare task ids with the baseline as of REF")
    add_json_option(check, "print timings and findings as JSON")
    check.add_argument("--junit", metavar="PATH", help="also write JUnit XML, one test case per DAG file")
    check.set_defaults(handler=cmd_check)

    record = commands.add_parser("baseline", help="accept the current task ids of every DAG (cicd/dags/baseline.json)")
    record.set_defaults(handler=cmd_baseline)

    from cicd.dags import scaffold  # standard library only at import

    new = commands.add_parser(
        "new",
        help="scaffold a pipeline: its spec (from a template), its DAG file and its task ids in the baseline",
        description="Write dags/pipelines/ID.yaml from a template for the source, the DAG file, and add the new "
        "DAGs' task ids to cicd/dags/baseline.json, so that `cicd dags check` passes at once. With an existing "
        "spec, writes the DAG file and baseline entry only.",
    )
    new.add_argument("pipeline_id", metavar="ID", help=f"the pipeline id ({scaffold.PIPELINE_ID_RULE})")
    new.add_argument(
        "--source",
        choices=scaffold.SOURCES,
        default=scaffold.DEFAULT_SOURCE,
        help="where the data comes from: files in the raw bucket (s3), a Kafka topic, files in a Snowflake "
        "stage, or none (a dbt-only transform) (default: %(default)s)",
    )
    new.add_argument(
        "--domain", choices=scaffold.DOMAINS, help="the data domain (default: the id's first word, e.g. crm_...)"
    )
    owner = new.add_argument("--owner", help="owning team from cicd/dags/policy.yaml (default: <domain>-data)")
    job = new.add_argument(
        "--spark-job", help="the Spark job of platform_vocabulary/spark_jobs.py (s3 and kafka sources)"
    )
    selector = new.add_argument(
        "--dbt-selector", help="a selector of dbt_project/selectors.yml (required with --source none)"
    )
    # <Tab> offers what exists in this checkout; read only when completing.
    owner.completer = _complete_owners  # type: ignore[attr-defined]
    job.completer = _complete_spark_jobs  # type: ignore[attr-defined]
    selector.completer = _complete_selectors  # type: ignore[attr-defined]
    add_json_option(new, "print what was written as JSON")
    new.set_defaults(handler=cmd_new)

    bench_parser = commands.add_parser("bench", help="time the integrity check on a copy grown to N pipelines")
    bench_parser.add_argument("--pipelines", type=int, default=180, help="pipelines in the copy (default: 180)")
    add_json_option(bench_parser, "print the measurements as JSON")
    bench_parser.set_defaults(handler=cmd_bench)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `dags check|baseline|new|bench` under `cicd` (the caller's parser owns --root)."""
    dags: argparse.ArgumentParser = subparsers.add_parser(
        "dags", help="Airflow DAGs: integrity check, task baseline, scaffold a new pipeline, benchmark"
    )
    _add_commands(dags)
    return dags
