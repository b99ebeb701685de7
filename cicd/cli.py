# PYTHON_ARGCOMPLETE_OK  (argcomplete's global completion looks for this marker)
"""`cicd <command>`: the gate, release tooling and the operations commands of the data platform.

Installed by `make venv` as the `cicd` command of the project's .venv (`cicd` is the same
program). Command bodies stay a few lines: parse, call a domain function, map the result to an exit
code. Every command module is imported to build `--help`, so none of them imports a heavy library
(boto3, pydantic, rich, the gate's checks) at module level: those load inside the handler that uses them.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import sys
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from cicd.options import (
    ExitCode,
    add_json_option,
    add_root_option,
    credentials_problem,
    error,
    print_json,
    print_table,
    step,
)

ROOT = Path(__file__).resolve().parent.parent
DISTRIBUTION = "data-platform-delivery"  # [project] name in pyproject.toml

# Command groups that live beside their domain code; each module exposes add_parser(subparsers).
# `cicd --help` lists them in this order: the daily loop first, operations next, tooling last.
COMMAND_MODULES: tuple[str, ...] = (
    "cicd.dags.cli",
    "cicd.dbt.cli",
    "cicd.data.cli",
    "cicd.config_files.cli",
    "cicd.schemas.cli",
    "cicd.dataservices.cli",
    "cicd.rollback.cli",
    "cicd.streaming.cli",
    "cicd.rehearsal.cli",
    "cicd.audit.cli",
    "cicd.changeset.cli",
    "cicd.poststeps.cli",
    "cicd.readiness.cli",
    "cicd.packages.cli",
    "cicd.completion",
)


def describe_scope(only: Sequence[str], changed_since: str | None, changed: Collection[Any] | None) -> str:
    """What the run covers, in the words of the options that chose it (report.json keeps this string)."""
    parts = []
    if only:
        parts.append(f"only {', '.join(only)} and what they need")
    if changed is not None:
        parts.append(f"changed since {changed_since} ({len(changed)} files)")
    return "; ".join(parts) or "all"


def cmd_validate(args: argparse.Namespace) -> int:
    from cicd.gate import report
    from cicd.gate.batch import write_batch_spec
    from cicd.gate.cache import CacheError, store_from_env
    from cicd.gate.model import GateContext, Status
    from cicd.gate.plan import make_plan, render_plan
    from cicd.gate.progress import GateProgress
    from cicd.gate.registry import all_checks
    from cicd.gate.reuse import result_cache
    from cicd.gate.runner import GateSetupError, changed_files, gate_passed, run_checks, select_checks

    root = Path(args.root).resolve()
    checks = all_checks()
    if args.list:
        if args.json:
            print_json([{"check": c.name, "description": c.description, "needs": list(c.needs)} for c in checks])
        else:
            rows = [(c.name, c.description, ", ".join(c.needs)) for c in checks]
            print_table(("check", "what it runs", "needs"), rows)
        return ExitCode.OK
    if args.batch_spec:
        path = write_batch_spec(checks, Path(args.batch_spec), test_shards=args.test_shards)
        print(f"wrote {path}: a CodeBuild batch build graph of the gate's {len(checks)} checks")
        return ExitCode.OK
    only = [name for names in args.only or () for name in names]
    try:
        changed = None if args.all or not args.changed_since else changed_files(root, args.changed_since)
        ctx = GateContext(
            root=root,
            out_dir=root / "build" / "gate",
            changed_files=changed,
            base_ref=args.changed_since,
            store=store_from_env(root, os.environ),
            use_stored=not args.no_cache,
            test_shard=args.test_shard,
        )
        selected = select_checks(checks, ctx, only=only)
        cache = result_cache(ctx, selected, os.environ, use_stored=not args.no_cache)
    except (GateSetupError, CacheError) as exc:
        return error("gate", str(exc))
    scope = describe_scope(only, args.changed_since, changed)
    if args.plan:
        plan = make_plan(
            checks, selected, ctx, only=only, cache=cache, jobs=args.jobs, keep_going=args.keep_going, scope=scope
        )
        if args.json:
            print_json(plan.as_dict())
        else:
            render_plan(plan, sys.stdout)
        return ExitCode.OK
    if not selected:
        print(f"gate: no check is affected by the change ({scope}); nothing to validate")
        return ExitCode.OK
    print(f"gate: {len(selected)} check(s), {scope}, {args.jobs} at a time", file=sys.stderr)
    started = time.perf_counter()
    with GateProgress(selected, sys.stderr) as progress:  # on stderr, with --json too
        results = run_checks(selected, ctx, jobs=args.jobs, listener=progress, cache=cache, keep_going=args.keep_going)
    total = time.perf_counter() - started
    passed = gate_passed(results)
    payload = report.as_dict(results, total, passed, scope)
    report.write_json(payload, ctx.out_dir / "report.json")  # the audit ledger reads this artifact
    if args.junit:
        report.write_junit(results, total, Path(args.junit))
    if args.json:
        print(json.dumps(payload, indent=2))
    else:
        report.render_table(results, total, sys.stdout)
        failed = [r.name for r in results if r.status is not Status.PASSED]
        print(f"\ngate {'PASSED' if passed else 'FAILED: ' + ', '.join(failed)} in {total:.1f}s")
    return ExitCode.OK if passed else ExitCode.FAILED


def cmd_release_build(args: argparse.Namespace) -> int:
    from cicd.release.bundle import BundleError, build

    try:
        with step("building the release bundle (DAGs, dbt, Spark, data services)"):
            release = build(Path(args.root).resolve(), Path(args.out).resolve())
    except BundleError as exc:
        return error("release build failed", str(exc), ExitCode.FAILED)
    if args.json:
        print_json(
            {
                "release_id": release.release_id,
                "files": release.file_count,
                "bytes": release.size_bytes,
                "directory": str(release.directory),
            }
        )
    else:
        print(
            f"{release.release_id}  {release.file_count} files  {release.size_bytes / 1e6:.2f} MB  {release.directory}"
        )
    return ExitCode.OK


def cmd_release_evidence(args: argparse.Namespace) -> int:
    """Put the release manifest and the gate report into the cloud assembly the pipeline stores."""
    root = Path(args.root).resolve()
    release = root / "build" / "release" / "current" / "release.json"
    gate_report = root / "build" / "gate" / "report.json"
    missing = [str(p.relative_to(root)) for p in (release, gate_report) if not p.exists()]
    if missing:
        return error("release evidence", f"missing {', '.join(missing)}; run `make validate` first", ExitCode.FAILED)
    into = Path(args.into).resolve()
    into.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(release, into / "release.json")
    shutil.copyfile(gate_report, into / "gate-report.json")
    release_id = json.loads(release.read_text())["release_id"]
    (into / "release-id").write_text(release_id)
    print(f"{release_id}: evidence in {into}")
    return ExitCode.OK


def cmd_gate_bench(args: argparse.Namespace) -> int:
    from cicd.gate import bench

    return bench.run_from_args(args)


def _check_names(**_: Any) -> list[str]:
    """Shell completion for --only: the registered checks (imported only when completing)."""
    from cicd.gate.registry import all_checks

    return [check.name for check in all_checks()]


class _VersionAction(argparse.Action):
    """`--version`, computed only when asked (it reads the installed metadata and the commit)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(version_text())
        parser.exit()


def version_text() -> str:
    from importlib import metadata

    from platform_vocabulary.git import git_output

    try:
        number = metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        number = "(not installed: run `make venv`)"
    commit = git_output(ROOT, "rev-parse", "--short", "HEAD")
    python = ".".join(str(part) for part in sys.version_info[:3])
    return f"cicd {number} (commit {commit or 'unknown'}, {ROOT}, Python {python})"


def _add_validate(commands: Any) -> None:
    from cicd.gate.batch import parse_shard  # standard library and the gate's model only: cheap for --help

    validate = commands.add_parser("validate", help="run the validation gate (every check, or what changed)")
    scope = validate.add_mutually_exclusive_group()
    scope.add_argument("--all", action="store_true", help="run every check (the default)")
    scope.add_argument("--changed-since", metavar="REF", help="run only checks whose paths changed since REF")
    only = validate.add_argument(
        "--only",
        nargs="+",
        action="extend",  # --only a --only b runs both, never just the last
        type=lambda value: [name for name in value.split(",") if name],
        metavar="CHECK",
        help="run these checks (and what they need); space- or comma-separated, repeatable",
    )
    only.completer = _check_names  # argcomplete reads this attribute
    validate.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="checks run at once (default: cores)")
    add_json_option(validate, "print the machine-readable report (with --list: the checks)")
    validate.add_argument("--junit", metavar="PATH", help="also write a JUnit XML report")
    validate.add_argument("--list", action="store_true", help="list the checks and exit")
    validate.add_argument(
        "--no-cache", action="store_true", help="run every check even when a pass for the same inputs is stored"
    )
    validate.add_argument(
        "--keep-going",
        action="store_true",
        help="run every selected check even when a check it depends on failed (default: skip its dependents)",
    )
    validate.add_argument(
        "--test-shard",
        type=parse_shard,
        metavar="I/N",
        help="run only shard I of N of the unit tests (a task of the CodeBuild batch build)",
    )
    validate.add_argument(
        "--batch-spec",
        metavar="PATH",
        help="write the CodeBuild batch build spec (build-graph) that fans these checks out, and exit",
    )
    validate.add_argument("--test-shards", type=int, default=2, help="unit-test shards in --batch-spec (default: 2)")
    validate.add_argument(
        "--plan",
        action="store_true",
        help="show the changed files, the checks that would run and why, the tests and the expected time; run nothing",
    )
    validate.set_defaults(handler=cmd_validate)


def _add_gate_bench(commands: Any) -> None:
    from cicd.gate import bench  # standard library only at import: cheap for --help

    gate_bench = commands.add_parser(
        "gate-bench",
        help="gate wall time on a scratch clone: cold, warm, cached, changed-only (`make bench-gate`)",
    )
    bench.add_arguments(gate_bench)
    gate_bench.set_defaults(handler=cmd_gate_bench)


def _add_release(commands: Any) -> None:
    release = commands.add_parser(
        "release",
        help="release bundles and released environments: build, evidence, status, rollback-drill, activation-bench",
    ).add_subparsers(dest="release_command", required=True, metavar="SUBCOMMAND")
    build = release.add_parser("build", help="build the content-addressed release bundle")
    build.add_argument("--out", default=str(ROOT / "build" / "release"), help="output folder")
    add_json_option(build)
    build.set_defaults(handler=cmd_release_build)
    evidence = release.add_parser("evidence", help="copy release.json and the gate report into the cloud assembly")
    evidence.add_argument("--into", default=str(ROOT / "build" / "cdk.out" / "evidence"), help="target folder")
    evidence.set_defaults(handler=cmd_release_evidence)


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.HelpFormatter(prog, max_help_position=26)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cicd",
        description="The data platform's delivery tooling: the validation gate, DAGs, dbt, releases, rollback, audit.",
        epilog="`cicd COMMAND --help` shows a command's options; `cicd completion --help` sets up tab completion. "
        "Exit codes: 0 done, 1 a check or action failed, 2 a bad request (option, input, credentials).",
        formatter_class=_formatter,
    )
    parser.add_argument("--version", action=_VersionAction, help="print the version, commit and checkout, and exit")
    add_root_option(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_validate(commands)
    for module in COMMAND_MODULES:
        if module == "cicd.rollback.cli":
            _add_release(commands)  # `release` before the module that adds `release status` to it
        importlib.import_module(module).add_parser(commands)
    _add_gate_bench(commands)
    return parser


def _command_name(args: argparse.Namespace) -> str:
    words = [args.command]
    words += [value for key, value in vars(args).items() if key.endswith("_command") and isinstance(value, str)]
    return " ".join(words)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # a shell asking for completions: answer and exit
        import argcomplete

        argcomplete.autocomplete(parser)
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except Exception as exc:
        # A command that reaches AWS without credentials gets one message naming what to pass, not a traceback.
        problem = credentials_problem(exc, has_profile_option=hasattr(args, "profile")) if _aws_loaded() else None
        if problem is None:
            raise
        return error(_command_name(args), problem)


def _aws_loaded() -> bool:
    return "botocore" in sys.modules
