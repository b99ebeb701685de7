"""`cicd data ...`: deterministic synthetic source data."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from cicd.options import ExitCode, add_json_option, error, print_table, root_of, step


def cmd_generate(args: argparse.Namespace) -> int:
    from cicd.data.generate import generate

    root = root_of(args)
    out = Path(args.out) if args.out else root / "build" / "data" / f"scale-{args.scale}-seed-{args.seed}"
    try:
        with step(f"generating synthetic data (scale {args.scale}, seed {args.seed})"):
            result = generate(out.resolve(), scale=args.scale, seed=args.seed)
    except ValueError as exc:
        return error("data generate", str(exc))
    if args.json:
        payload = {
            "out": str(result.out_dir),
            "rows": result.rows,
            "seconds": round(result.seconds, 2),
            "tables": {f"{t.source}.{t.table}": {"rows": t.rows, "sha256": t.sha256} for t in result.tables},
        }
        print(json.dumps(payload, indent=2))
        return ExitCode.OK
    rows = [(f"{t.source}.{t.table}", f"{t.rows:,}", t.sha256[:12]) for t in result.tables]
    print_table(("table", "rows", "sha256"), [*rows, ("total", f"{result.rows:,}", "")], right=("rows",))
    print(f"{result.rows:,} rows in {result.seconds:.1f}s -> {result.out_dir}")
    return ExitCode.OK


def add_parser(subparsers: Any) -> None:
    data = subparsers.add_parser("data", help="synthetic source data for dev and CI")
    commands = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")
    gen = commands.add_parser(
        "generate", help="write deterministic CRM/product/operations Parquet files (same seed, same bytes)"
    )
    gen.add_argument("--scale", type=int, default=1, help="size: about 10,000 rows per unit (default 1)")
    gen.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    gen.add_argument("--out", help="output folder (default build/data/scale-N-seed-S)")
    add_json_option(gen, "print a machine-readable summary")
    gen.set_defaults(handler=cmd_generate)
