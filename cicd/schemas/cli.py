"""`python -m cicd schemas check|baseline`: event-schema compatibility against the released history."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cicd.options import ExitCode
from cicd.schemas.subjects import check_repository, record_baseline


def cmd_check(args: argparse.Namespace) -> int:
    problems = check_repository(Path(args.root).resolve(), base_ref=args.base_ref)
    if args.json:
        print(json.dumps([p.__dict__ for p in problems], indent=2))
    for p in problems if not args.json else []:
        where = f"{p.file}:{p.line}" if p.line else p.file
        print(f"{p.severity.upper():7} {where}: [{p.rule}] {p.message}\n        fix: {p.fix}")
    errors = [p for p in problems if p.severity == "error"]
    if not args.json:
        print(f"schemas: {len(errors)} error(s), {len(problems) - len(errors)} warning(s)")
    return ExitCode.FAILED if errors else ExitCode.OK


def cmd_baseline(args: argparse.Namespace) -> int:
    try:
        recorded = record_baseline(Path(args.root).resolve())
    except ValueError as exc:
        print(f"schemas baseline refused: {exc}", file=sys.stderr)
        return ExitCode.FAILED
    print("\n".join(f"recorded {line}" for line in recorded) or "schemas: every subject's current schema is recorded")
    return ExitCode.OK


def add_parser(subparsers: Any) -> None:
    schemas = subparsers.add_parser("schemas", help="Avro event schemas: compatibility and released history")
    commands = schemas.add_subparsers(dest="schemas_command", required=True, metavar="SUBCOMMAND")
    check = commands.add_parser("check", help="check every subject against its released history and declared mode")
    check.add_argument("--base-ref", metavar="REF", help="also refuse released versions changed since this git ref")
    check.add_argument("--json", action="store_true", help="print the problems as JSON")
    check.set_defaults(handler=cmd_check)
    baseline = commands.add_parser("baseline", help="record changed, compatible schemas as released versions")
    baseline.set_defaults(handler=cmd_baseline)
