"""`python -m cicd.packages check|spark-jars|mwaa-wheelhouse`: what the make targets of the same names run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cicd.packages.rules import check_repository
from cicd.packages.staging import StagingError, build_plugins_zip, download_wheels, fetch_jars

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "build" / "packages"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cicd.packages", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="the offline rules (no network): what the gate's offline-packages check runs")
    jars = commands.add_parser("spark-jars", help="download the locked jars into build/packages/jars (Maven Central)")
    jars.add_argument("--record", action="store_true", help="record the sha256 of jars the lock has none for")
    commands.add_parser("mwaa-wheelhouse", help="pip download the MWAA locks (PyPI), then build plugins.zip")
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            problems = check_repository(ROOT)
            for problem in problems:
                print(f"{problem.file}:{problem.line or ''} [{problem.rule}] {problem.severity}: {problem.message}")
            return 1 if any(problem.severity == "error" for problem in problems) else 0
        if args.command == "spark-jars":
            staged = fetch_jars(ROOT, OUT / "jars", record=args.record)
            print(f"{len(staged)} jars verified in {OUT / 'jars'}")
            return 0
        download_wheels(ROOT, OUT / "wheels")
        (OUT / "plugins.zip").write_bytes(build_plugins_zip(ROOT, OUT / "wheels"))
        print(f"wrote {OUT / 'plugins.zip'}")
        return 0
    except StagingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
