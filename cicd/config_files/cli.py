"""`cicd config check|schema`: the YAML files people edit, checked as the gate checks them, and their editor schemas."""

from __future__ import annotations

import argparse
from typing import Any

from cicd.options import ExitCode, add_json_option, print_json, root_of


def cmd_check(args: argparse.Namespace) -> int:
    from config import ConfigError, load_all

    try:
        config = load_all(root_of(args) / "config")
    except ConfigError as exc:
        if args.json:
            print_json({"passed": False, "problems": [vars(p) for p in exc.problems]})
        for problem in [] if args.json else exc.problems:
            field = f"{problem.field}: " if problem.field else ""
            print(f"{problem.file}:{problem.line or ''}: [config:{problem.rule}] {field}{problem.message}")
            if problem.fix:
                print(f"    fix: {problem.fix}")
        return ExitCode.FAILED
    names = [env.name for env in config.environments]
    if args.json:
        print_json({"passed": True, "environments": names})
    else:
        print(f"config passed: delivery and {', '.join(names)}")
    return ExitCode.OK


def cmd_schema(args: argparse.Namespace) -> int:
    from cicd.config_files import schemas

    root = root_of(args)
    if args.check:
        stale = schemas.stale(root) + schemas.files_without_modeline(root)
        for path in stale:
            print(f"{path}: out of date; run `cicd config schema`")
        return ExitCode.FAILED if stale else ExitCode.OK
    changed = schemas.write(root)
    for path in changed:
        print(f"wrote {path}")
    if not changed:
        print("every schema and modeline is up to date")
    return ExitCode.OK


def add_parser(subparsers: Any) -> None:
    config = subparsers.add_parser(
        "config", help="config/*.yaml: check it as the gate does; JSON Schemas for editors (config and pipeline specs)"
    )
    commands = config.add_subparsers(dest="config_command", required=True, metavar="SUBCOMMAND")
    check = commands.add_parser("check", help="load config/*.yaml into the typed model; every problem at once")
    add_json_option(check, "print the problems as JSON")
    check.set_defaults(handler=cmd_check)
    schema = commands.add_parser(
        "schema",
        help="regenerate the JSON Schemas of config/*.yaml and dags/pipelines/*.yaml from the models "
        "(and the `# yaml-language-server: $schema=` line of each file)",
    )
    schema.add_argument("--check", action="store_true", help="change nothing; exit 1 if anything is out of date")
    schema.set_defaults(handler=cmd_schema)
