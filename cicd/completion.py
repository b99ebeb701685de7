"""`cicd completion bash|zsh|fish`: the shell code that makes <Tab> complete commands, options and values.

argcomplete (in the project's .venv) does the completing: the shell calls `cicd` with the words
typed so far in its environment, and cicd/cli.py answers from the same argparse tree as `--help`.
"""

from __future__ import annotations

import argparse
from typing import Any

from cicd.options import ExitCode

SHELLS = ("bash", "zsh", "fish")
SETUP = {
    "bash": 'eval "$(cicd completion bash)"   # in ~/.bashrc',
    "zsh": 'eval "$(cicd completion zsh)"    # in ~/.zshrc',
    "fish": "cicd completion fish | source   # in ~/.config/fish/config.fish",
}


def cmd_completion(args: argparse.Namespace) -> int:
    import argcomplete

    print(argcomplete.shellcode(["cicd"], shell=args.shell), end="")
    return ExitCode.OK


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "completion",
        help="print the shell code for tab completion (bash, zsh, fish)",
        description="Print the shell code that completes cicd's commands and options. Set it up once:\n  "
        + "\n  ".join(SETUP.values()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("shell", nargs="?", choices=SHELLS, default="bash", help="the shell (default: bash)")
    parser.set_defaults(handler=cmd_completion)
