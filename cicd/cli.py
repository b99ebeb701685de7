"""`python -m cicd <command>`: the gate, release tooling and the operations commands.

Command bodies stay a few lines: parse, call a domain function, map the result to an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from cicd.gate import report
from cicd.gate.cache import CacheError
from cicd.gate.model import CheckResult, GateContext, Status
from cicd.gate.registry import all_checks
from cicd.gate.reuse import result_cache
from cicd.gate.runner import GateSetupError, changed_files, gate_passed, run_checks, select_checks
from cicd.options import ExitCode, add_root_option, print_table

ROOT = Path(__file__).resolve().parent.parent

# Command groups that live beside their domain code; each module exposes add_parser(subparsers).
COMMAND_MODULES: tuple[str, ...] = (
    "cicd.audit.cli",
    "cicd.changeset.cli",
    "cicd.dags.cli",
    "cicd.data.cli",
    "cicd.dataservices.cli",
    "cicd.dbt.cli",
    "cicd.poststeps.cli",
    "cicd.rollback.cli",
    "cicd.schemas.cli",
    "cicd.streaming.cli",
)


def _progress(name: str, result: CheckResult | None) -> None:
    if result is None:
        print(f"  … {name}", file=sys.stderr, flush=True)
    else:
        print(f"  {report.SYMBOL[result.status]:5} {name} ({result.duration_s:.1f}s)", file=sys.stderr, flush=True)


def cmd_validate(args: argparse.Namespace) -> int:
    root = Path(args.root).resolve()
    checks = all_checks()
    if args.list:
        print_table(("check", "what it runs", "needs"), [(c.name, c.description, ", ".join(c.needs)) for c in checks])
        return ExitCode.OK
    try:
        changed = None if args.all or not args.changed_since else changed_files(root, args.changed_since)
        ctx = GateContext(
            root=root, out_dir=root / "build" / "gate", changed_files=changed, base_ref=args.changed_since
        )
        selected = select_checks(checks, ctx, only=[name for names in args.only or () for name in names])
        cache = result_cache(ctx, selected, os.environ, use_stored=not args.no_cache)
    except (GateSetupError, CacheError) as exc:
        print(f"gate: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    scope = "all" if changed is None else f"changed since {args.changed_since} ({len(changed)} files)"
    if not selected:
        print(f"gate: no check is affected by the change ({scope}); nothing to validate")
        return ExitCode.OK
    print(f"gate: {len(selected)} check(s), {scope}, {args.jobs} at a time", file=sys.stderr)
    started = time.perf_counter()
    results = run_checks(selected, ctx, jobs=args.jobs, listener=None if args.json else _progress, cache=cache)
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
        release = build(Path(args.root).resolve(), Path(args.out).resolve())
    except BundleError as exc:
        print(f"release build failed: {exc}", file=sys.stderr)
        return ExitCode.FAILED
    print(f"{release.release_id}  {release.file_count} files  {release.size_bytes / 1e6:.2f} MB  {release.directory}")
    return ExitCode.OK


def cmd_release_evidence(args: argparse.Namespace) -> int:
    """Put the release manifest and the gate report into the cloud assembly the pipeline stores."""
    root = Path(args.root).resolve()
    release = root / "build" / "release" / "current" / "release.json"
    gate_report = root / "build" / "gate" / "report.json"
    missing = [str(p.relative_to(root)) for p in (release, gate_report) if not p.exists()]
    if missing:
        print(f"release evidence: missing {', '.join(missing)}; run `make validate` first", file=sys.stderr)
        return ExitCode.FAILED
    into = Path(args.into).resolve()
    into.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(release, into / "release.json")
    shutil.copyfile(gate_report, into / "gate-report.json")
    release_id = json.loads(release.read_text())["release_id"]
    (into / "release-id").write_text(release_id)
    print(f"{release_id}: evidence in {into}")
    return ExitCode.OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cicd", description=__doc__.splitlines()[0])
    add_root_option(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser("validate", help="run the validation gate")
    scope = validate.add_mutually_exclusive_group()
    scope.add_argument("--all", action="store_true", help="run every check (the default)")
    scope.add_argument("--changed-since", metavar="REF", help="run only checks whose paths changed since REF")
    validate.add_argument(
        "--only",
        nargs="+",
        action="extend",  # --only a --only b runs both, never just the last
        type=lambda value: [name for name in value.split(",") if name],
        metavar="CHECK",
        help="run these checks (and what they need); space- or comma-separated, repeatable",
    )
    validate.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="checks run at once (default: cores)")
    validate.add_argument("--json", action="store_true", help="print the machine-readable report")
    validate.add_argument("--junit", metavar="PATH", help="also write a JUnit XML report")
    validate.add_argument("--list", action="store_true", help="list the checks and exit")
    validate.add_argument(
        "--no-cache", action="store_true", help="run every check even when a pass for the same inputs is stored"
    )
    validate.set_defaults(handler=cmd_validate)

    release = commands.add_parser("release", help="release bundles").add_subparsers(
        dest="release_command", required=True
    )
    build = release.add_parser("build", help="build the content-addressed release bundle")
    build.add_argument("--out", default=str(ROOT / "build" / "release"), help="output folder")
    build.set_defaults(handler=cmd_release_build)
    evidence = release.add_parser("evidence", help="copy release.json and the gate report into the cloud assembly")
    evidence.add_argument("--into", default=str(ROOT / "build" / "cdk.out" / "evidence"), help="target folder")
    evidence.set_defaults(handler=cmd_release_evidence)

    for module in COMMAND_MODULES:
        importlib.import_module(module).add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))
