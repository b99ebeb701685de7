"""`cicd schemas check|baseline`: event-schema (Avro) compatibility against the released history."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cicd.options import ExitCode, add_json_option, error, print_json


def cmd_check(args: argparse.Namespace) -> int:
    from cicd.schemas.subjects import check_repository

    problems = check_repository(Path(args.root).resolve(), base_ref=args.base_ref)
    if args.json:
        print_json([p.__dict__ for p in problems])
    for p in problems if not args.json else []:
        where = f"{p.file}:{p.line}" if p.line else p.file
        print(f"{p.severity.upper():7} {where}: [{p.rule}] {p.message}\n        fix: {p.fix}")
    errors = [p for p in problems if p.severity == "error"]
    if not args.json:
        print(f"schemas: {len(errors)} error(s), {len(problems) - len(errors)} warning(s)")
    return ExitCode.FAILED if errors else ExitCode.OK


def cmd_baseline(args: argparse.Namespace) -> int:
    from cicd.schemas.subjects import record_baseline

    try:
        recorded = record_baseline(Path(args.root).resolve())
    except ValueError as exc:
        return error("schemas baseline refused", str(exc), ExitCode.FAILED)
    print("\n".join(f"recorded {line}" for line in recorded) or "schemas: every subject's current schema is recorded")
    return ExitCode.OK


def add_parser(subparsers: Any) -> None:
    schemas = subparsers.add_parser("schemas", help="Avro event schemas: compatibility and released history")
    commands = schemas.add_subparsers(dest="schemas_command", required=True, metavar="SUBCOMMAND")
    check = commands.add_parser("check", help="check every subject against its released history and declared mode")
    check.add_argument("--base-ref", metavar="REF", help="also refuse released versions changed since this git ref")
    add_json_option(check, "print the problems as JSON")
    check.set_defaults(handler=cmd_check)
    baseline = commands.add_parser("baseline", help="record changed, compatible schemas as released versions")
    baseline.set_defaults(handler=cmd_baseline)
