"""`cicd packages check|toolchain|spark-jars|mwaa-wheelhouse`: what the make targets run."""

from __future__ import annotations

import argparse
from typing import Any

from cicd.options import ExitCode, error, root_of


def cmd_check(args: argparse.Namespace) -> int:
    from cicd.packages.rules import check_repository

    problems = check_repository(root_of(args))
    for problem in problems:
        where = f"{problem.file}:{problem.line}" if problem.line else problem.file
        print(f"{where}: [{problem.rule}] {problem.severity}: {problem.message}")
    return ExitCode.FAILED if any(problem.severity == "error" for problem in problems) else ExitCode.OK


def cmd_toolchain(args: argparse.Namespace) -> int:
    from cicd.packages.maven import MavenError, check_client

    try:
        print(check_client())
    except MavenError as exc:
        return error("packages toolchain", str(exc), ExitCode.FAILED)
    return ExitCode.OK


def cmd_spark_jars(args: argparse.Namespace) -> int:
    from cicd.packages.maven import MavenError
    from cicd.packages.staging import StagingError, fetch_jars

    out = root_of(args) / "build" / "packages" / "jars"
    try:
        staged = fetch_jars(root_of(args), out, record=args.record)
    except (StagingError, MavenError) as exc:
        return error("packages spark-jars", str(exc), ExitCode.FAILED)
    print(f"{len(staged)} jars verified in {out}")
    return ExitCode.OK


def cmd_mwaa_wheelhouse(args: argparse.Namespace) -> int:
    from cicd.packages.staging import StagingError, build_plugins_zip, download_wheels

    out = root_of(args) / "build" / "packages"
    try:
        download_wheels(root_of(args), out / "wheels")
        (out / "plugins.zip").write_bytes(build_plugins_zip(root_of(args), out / "wheels"))
    except StagingError as exc:
        return error("packages mwaa-wheelhouse", str(exc), ExitCode.FAILED)
    print(f"wrote {out / 'plugins.zip'}")
    return ExitCode.OK


def add_parser(subparsers: Any) -> None:
    packages = subparsers.add_parser(
        "packages", help="the Spark jars and MWAA wheels the cloud installs: offline check, fetch (network)"
    )
    commands = packages.add_subparsers(dest="packages_command", required=True, metavar="SUBCOMMAND")
    check = commands.add_parser(
        "check", help="the offline rules (no network): what the gate's offline-packages check runs"
    )
    check.set_defaults(handler=cmd_check)
    toolchain = commands.add_parser("toolchain", help="check that Maven 3.8+ runs on Java 17 (what spark-jars needs)")
    toolchain.set_defaults(handler=cmd_toolchain)
    jars = commands.add_parser("spark-jars", help="download the locked jars into build/packages/jars (Maven Central)")
    jars.add_argument("--record", action="store_true", help="record the sha256 of jars the lock has none for")
    jars.set_defaults(handler=cmd_spark_jars)
    wheels = commands.add_parser("mwaa-wheelhouse", help="pip download the MWAA locks (PyPI), then build plugins.zip")
    wheels.set_defaults(handler=cmd_mwaa_wheelhouse)
