"""`python -m cicd.poststeps poststep integration-tests|canaries --env staging`, with the post-steps' imports only.

The IntegrationTests build runs in the staging VPC without internet and has only
requirements-integration.lock installed (make integration-test); `python -m cicd` would import the
whole gate and its toolchain. `python -m cicd poststep ...` runs the same commands with the full one.
"""

from __future__ import annotations

import argparse
import sys

from cicd.poststeps.cli import add_parser


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cicd.poststeps", description=__doc__)
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
