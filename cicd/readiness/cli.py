"""`cicd readiness`: the deploy-readiness pack on a cloud assembly, e.g. one synthesized elsewhere."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cicd.options import ExitCode, add_json_option, error, print_json, print_table, root_of


def cmd_readiness(args: argparse.Namespace) -> int:
    # Imported here so `cicd --help` does not load the rule pack (the CLI's lazy-import rule).
    from cicd.readiness.assembly import Assembly, AssemblyError
    from cicd.readiness.facts import MISSING_REFERENCE, FactsError, load_facts
    from cicd.readiness.findings import SuppressionFileError
    from cicd.readiness.iam_reference import IamReferenceError
    from cicd.readiness.pack import RULES, load_reviewed_suppressions, run
    from cicd.readiness.report import as_dict, write_text

    if args.list:
        print_table(("rule", "finds"), [(rule.id, rule.finds) for rule in RULES])
        return ExitCode.OK
    root = root_of(args)
    assembly_dir = (root / "build" / "cdk.out") if args.assembly is None else args.assembly.resolve()
    try:
        assembly = Assembly.load(assembly_dir)
        facts = load_facts(root)
        reviewed = load_reviewed_suppressions(root)
    except (AssemblyError, FactsError, SuppressionFileError) as exc:
        return error("readiness", str(exc))
    if facts.iam_reference is None:
        return error("readiness", MISSING_REFERENCE)
    try:
        report = run(assembly, facts, reviewed=reviewed, root=root)
    except IamReferenceError as exc:
        return error("readiness", str(exc))
    if args.json:
        print_json(as_dict(report))
    else:
        write_text(report, sys.stdout)
    return ExitCode.FAILED if report.errors else ExitCode.OK


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "readiness", help="deploy-readiness rules over a whole cloud assembly (the gate's deploy-readiness check)"
    )
    parser.add_argument(
        "--assembly",
        type=Path,
        help="cloud assembly directory (default: <root>/build/cdk.out, what `validate --only cdk-synth` writes)",
    )
    add_json_option(parser, "print the machine-readable report")
    parser.add_argument("--list", action="store_true", help="list the rules and what each finds")
    parser.set_defaults(handler=cmd_readiness)
