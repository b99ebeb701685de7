"""What every `cicd` command shares: --env, --root, --json, exit codes, errors, tables and progress.

One place, so a new environment (config/<env>.yaml) is a valid --env everywhere at once, every
command exits with the same codes for the same outcomes, and output follows one convention:
results on stdout (a rich table for people, `--json` for machines), errors and progress on stderr,
no colour or live updates when the stream is not a terminal.

Nothing heavy is imported here at module level: `cicd --help` builds every command's parser, and
it should answer in a fraction of a second. rich is imported when a table is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from enum import IntEnum
from pathlib import Path
from typing import Any, TextIO

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
    action = parser.add_argument(
        "--env",
        required=default is None,
        default=default,
        type=environment_type(config_dir),
        metavar="{" + ",".join(names) + "}",
        help=help_text if default is None else f"{help_text} (default {default})",
    )
    action.completer = lambda **_: names  # type: ignore[attr-defined]  # argcomplete reads this attribute


def add_profile_option(parser: argparse.ArgumentParser, help_text: str | None = None) -> None:
    """`--profile`: the AWS profile to use, so that no command needs exported credentials to work."""
    parser.add_argument(
        "--profile",
        help=help_text or "AWS profile (~/.aws/config) to use (default: the default chain: AWS_PROFILE, variables)",
    )


CREDENTIAL_VARIABLES = "AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (plus AWS_SESSION_TOKEN)"


def credentials_problem(exc: BaseException, *, has_profile_option: bool = True) -> str | None:
    """What to pass when `exc` (or what it wraps) is AWS finding no usable credentials; None otherwise.

    boto3 says "Unable to locate credentials", which inside a refusal ("rollback refused: cannot read
    stack ...") reads like a safety check. This names the option and the variables instead.
    """
    import botocore.exceptions as aws

    how = "pass --profile NAME, or set " if has_profile_option else "set "
    refused_codes = ("ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException")
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, aws.ProfileNotFound):
            return f"{current} (`aws configure list-profiles` lists the profiles): {how}{CREDENTIAL_VARIABLES}"
        if isinstance(current, aws.NoCredentialsError | aws.PartialCredentialsError | aws.CredentialRetrievalError):
            return f"no AWS credentials found ({current}): {how}{CREDENTIAL_VARIABLES}"
        if isinstance(current, aws.NoRegionError):
            return f"{current}: set AWS_REGION, or give the profile a region"
        if isinstance(current, aws.ClientError) and current.response.get("Error", {}).get("Code") in refused_codes:
            return f"AWS refused the credentials ({current}): renew them, or {how}{CREDENTIAL_VARIABLES}"
        current = current.__cause__ or current.__context__
    return None


def add_root_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", default=str(ROOT), help="repository root (default: this checkout)")


def root_of(args: argparse.Namespace) -> Path:
    """--root as given to `cicd`, or this checkout when a command parser is used on its own."""
    return Path(getattr(args, "root", None) or ROOT).resolve()


def print_table(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    right: Sequence[str] = (),
    file: TextIO | None = None,
) -> None:
    """The one table style for people (no colour when piped); `--json` is the format for machines."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left", overflow="fold")
    for row in rows:
        table.add_row(*(Text(str(cell)) for cell in row))  # as written: "[RUN]" or "[x]" is no rich markup
    console(file or sys.stdout).print(table)


def console(out: TextIO) -> Any:
    """A rich Console on `out`: colour and live updates only on a terminal, and never with NO_COLOR."""
    from rich.console import Console

    terminal = is_terminal(out)
    # Piped output (CI logs, tests) gets a wide fixed width so paths are not folded at 80 columns.
    return Console(
        file=out,
        width=None if terminal else 200,
        force_terminal=terminal,
        no_color=not terminal or "NO_COLOR" in os.environ,
        highlight=False,
    )


def is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


def add_json_option(parser: argparse.ArgumentParser, help_text: str = "print the result as JSON on stdout") -> None:
    """`--json`: the result for machines on stdout; progress and errors stay on stderr."""
    parser.add_argument("--json", action="store_true", help=help_text)


def print_json(payload: Any, file: TextIO | None = None) -> None:
    print(json.dumps(payload, indent=2, default=str), file=file or sys.stdout)


def error(command: str, message: str, code: ExitCode = ExitCode.USAGE) -> ExitCode:
    """Print `command: message` on stderr and return the exit code, so a handler can `return error(...)`."""
    print(f"{command}: {message}", file=sys.stderr)
    return code


def progress(message: str) -> None:
    """A step of a long command, for a person watching: on stderr, and only when stderr is a terminal.

    Under `--json` or in CI logs the result carries what matters; steps that must be recorded (a
    rollback's actions) are printed by their command instead.
    """
    if is_terminal(sys.stderr):
        print(message, file=sys.stderr, flush=True)


@contextmanager
def step(message: str) -> Iterator[Callable[[str], None]]:
    """A long step for a person watching: a spinner with the elapsed time on stderr, then one line.

    Yields a function that prints a line above the spinner (a tool's own progress, such as dbt's
    per-model lines). Off a terminal (CI logs, pipes) nothing is shown: the command's result says it.
    """
    if not is_terminal(sys.stderr):
        yield lambda line: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    err = console(sys.stderr)
    started = time.perf_counter()
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err, transient=True
    ) as live:
        live.add_task(message, total=None)
        yield lambda line: err.print(line, markup=False, highlight=False, soft_wrap=True)
    # Reached only when the step succeeded; a failure is reported by the command itself.
    err.print(f"{message}: {time.perf_counter() - started:.1f}s", markup=False, highlight=False)
