"""`dbt wap`: write-audit-publish (or roll back) one selector into Snowflake.

Kept apart from the rest of the dbt CLI (which mounts it as `cicd dbt wap`) so that it runs
on MWAA workers, where the release ships this package inside the DAG folder: `python -m
pipeline_assets.dbt_wap.cli --root R --target prod --selector crm_accounts --release-id r-…`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline_assets.dbt_wap import embedded, wap

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# The dbt target of the embedded warehouse (profiles.yml): a DuckDB file that outlives one dbt run, as a
# Snowflake database does. The rehearsal runs write-audit-publish there (docs/rehearsal.md).
EMBEDDED_TARGET = "embedded"
EMBEDDED_PATH = "EMBEDDED_WAREHOUSE_PATH"


def _embedded_path() -> Path:
    if not os.environ.get(EMBEDDED_PATH):
        raise wap.WapError(f"target {EMBEDDED_TARGET} needs {EMBEDDED_PATH}: the DuckDB file of the warehouse")
    return Path(os.environ[EMBEDDED_PATH])


def _database(args: argparse.Namespace) -> str:
    if args.target == EMBEDDED_TARGET and not args.dry_run:
        return embedded.database_of(_embedded_path())
    return str(args.database or os.environ.get("SNOWFLAKE_DATABASE", ""))


def _executor(args: argparse.Namespace) -> wap.Executor:
    if args.target == EMBEDDED_TARGET:
        return embedded.duckdb_executor(_embedded_path())
    return wap.snowflake_executor(wap.connect_from_env(dict(os.environ)))


def cmd_wap(args: argparse.Namespace) -> int:
    try:
        plan = wap.WapPlan(
            database=_database(args),
            target_schema=args.schema,
            release_id=args.release_id,
            selector=args.selector,
            reader_roles=tuple(args.reader_role or ()),
        )
    except wap.WapError as exc:
        print(f"dbt wap: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.dry_run:
        if args.rollback:
            statements = plan.rollback_statements()
        else:
            step = (
                f"-- dbt build --target {args.target} --selector {args.selector} --vars '{{wap_release: {plan.tag}}}'"
            )
            statements = [*plan.write_statements(True), step, *plan.publish_statements(True)]
        print(";\n".join(statements) + ";")
        return EXIT_OK
    try:
        executor = _executor(args)
        if args.rollback:
            result = wap.rollback(plan, executor=executor, restores=args.restores)
        else:
            root = Path(getattr(args, "root", ".")).resolve()
            build = wap.dbt_build_into_release(
                root, target=args.target, selector=args.selector, plan=plan, executor=executor
            )
            result = wap.run(plan, executor=executor, build=build)
    except (wap.WapError, KeyError) as exc:
        print(f"dbt wap: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(result.message)
    return EXIT_OK if result.published else EXIT_FAILED


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", required=True, help="dbt target (prod, staging)")
    parser.add_argument("--selector", required=True, help="pipeline selector from selectors.yml")
    parser.add_argument("--release-id", required=True, help="release id, used to name the release schema")
    parser.add_argument("--schema", default="analytics", help="the target's schema (profiles.yml; default analytics)")
    parser.add_argument("--database", help="Snowflake database (default: $SNOWFLAKE_DATABASE)")
    parser.add_argument("--reader-role", action="append", help="role that reads the marts (repeatable)")
    parser.add_argument("--rollback", action="store_true", help="swap the previous release back in")
    parser.add_argument(
        "--restores",
        metavar="RELEASE",
        help="with --rollback: refuse unless the previous schema holds RELEASE's publish",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the SQL instead of running it")
    parser.set_defaults(handler=cmd_wap)


def add_wap_parser(commands: Any) -> None:
    _arguments(commands.add_parser("wap", help="write-audit-publish a dbt selector into Snowflake (or --rollback)"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline_assets.dbt_wap.cli", description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=".", help="folder holding dbt_project/ (the release's dbt part)")
    _arguments(parser)
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
