"""What every `python -m cicd` command shares: --env, --root, exit codes and tables for people.

One place, so a new environment (config/<env>.yaml) is a valid --env everywhere at once, every
command exits with the same codes for the same outcomes, and tables look alike.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from enum import IntEnum
from pathlib import Path
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "config"
# config/ holds one YAML per environment plus the delivery account's; the latter is no environment.
NOT_ENVIRONMENTS = frozenset({"delivery"})
PROMOTION_ORDER = ("dev", "staging", "prod")


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # the command ran and found a problem: a failed check, a refused or failed rollback step
    USAGE = 2  # the request itself is wrong (a bad option or missing input); argparse exits with 2 too


def environment_names(config_dir: Path = CONFIG_DIR) -> tuple[str, ...]:
    """The environments config/ defines (one <env>.yaml each), in promotion order, then by name."""
    names = {p.stem for p in config_dir.glob("*.yaml")} - NOT_ENVIRONMENTS
    return tuple(sorted(names, key=lambda n: (PROMOTION_ORDER.index(n) if n in PROMOTION_ORDER else 99, n)))


def environment_type(config_dir: Path = CONFIG_DIR) -> Any:
    """An argparse `type` whose error names config/, the environments it defines and the fix."""
    names = environment_names(config_dir)

    def parse(value: str) -> str:
        if value not in names:
            raise argparse.ArgumentTypeError(
                f"{value!r} is not an environment of {config_dir.name}/ (choose from {', '.join(names)}); "
                f"pick one of those, or add {config_dir.name}/{value}.yaml to define it"
            )
        return value

    parse.__name__ = "environment"
    return parse


def add_env_option(
    parser: argparse.ArgumentParser,
    *,
    help_text: str,
    default: str | None = None,
    config_dir: Path = CONFIG_DIR,
) -> None:
    """`--env`, required unless a default is given; its values are the environments of config/."""
    names = environment_names(config_dir)
    parser.add_argument(
        "--env",
        required=default is None,
        default=default,
        type=environment_type(config_dir),
        metavar="{" + ",".join(names) + "}",
        help=help_text if default is None else f"{help_text} (default {default})",
    )


def add_root_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", default=str(ROOT), help="repository root (default: this checkout)")


def root_of(args: argparse.Namespace) -> Path:
    """--root as given to `python -m cicd`, or this checkout when a command parser is used on its own."""
    return Path(getattr(args, "root", None) or ROOT).resolve()


def print_table(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    right: Sequence[str] = (),
    file: TextIO | None = None,
) -> None:
    """A plain table for people (no colour when piped); `--json` is the format for machines."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left", overflow="fold")
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    out = file or sys.stdout
    # Piped output (CI logs, tests) gets a wide fixed width so paths are not folded at 80 columns.
    Console(file=out, width=None if out.isatty() else 200).print(table)
