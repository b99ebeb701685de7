"""Time and peak memory of each dbt gate step at given data scales.

    cicd dbt bench --scale 1 --scale 1000

Each step runs in its own process; its peak memory is the largest resident set of that process tree,
sampled every 50 ms. Steps that do not depend on the data (lint, compatibility) run once. The Snowflake
emulator step runs at scale 1 only: fakesnow loads sources through pandas and is a SQL-dialect check, not a
volume test (docs/dbt.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Measurement:
    step: str
    scale: int | None
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    ok: bool
    detail: str = ""


def measure(step: str, scale: int | None, command: list[str], env: dict[str, str] | None = None) -> Measurement:
    started = time.perf_counter()
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    import psutil  # ~0.2 s to import: only when measuring, not for `cicd --help`

    root = psutil.Process(proc.pid)
    peak, cpu = 0, 0.0
    seen: dict[int, float] = {}
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            rss = 0
            for member in tree:
                with_info = member.as_dict(attrs=["memory_info", "cpu_times"])
                if with_info["memory_info"]:
                    rss += with_info["memory_info"].rss
                if with_info["cpu_times"]:
                    times = with_info["cpu_times"]
                    seen[member.pid] = times.user + times.system
            peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(0.05)
    output = proc.stdout.read() if proc.stdout else ""
    cpu = sum(seen.values())
    return Measurement(
        step, scale, time.perf_counter() - started, cpu, peak / 2**20, proc.returncode == 0, output.strip()[-300:]
    )


def _step(name: str, scale: int, seed: int) -> int:
    """One measured step, run in a child process by `run()`."""
    from cicd.data.generate import generate
    from cicd.dbt import compat
    from cicd.dbt.build import build_snowflake_emulated
    from cicd.dbt.offline import CI_AS_OF, load_duckdb
    from pipeline_assets.dbt_wap.runner import DbtWorkspace, run_dbt

    data = ROOT / "build" / "data" / f"bench-scale-{scale}-seed-{seed}"
    workspace = DbtWorkspace(ROOT, f"bench-{scale}")
    if name == "generate":
        print(generate(data, scale=scale, seed=seed).rows, "rows generated")
    elif name == "load_duckdb":
        workspace.duckdb_path.unlink(missing_ok=True)
        print(sum(load_duckdb(workspace.duckdb_path, data).values()), "rows loaded")
    elif name == "dbt_build_duckdb":
        args = ["build", "--target", "ci", "--threads", "2", "--vars", json.dumps({"as_of": CI_AS_OF})]
        proc = run_dbt(workspace, args)
        print((proc.stdout or "").strip().splitlines()[-1])
        return proc.returncode
    elif name == "snowflake_compile_and_fakesnow_build":
        outcome = build_snowflake_emulated(ROOT, scale=scale, seed=seed)
        print(outcome.nodes, "nodes on fakesnow")
        return outcome.returncode
    elif name == "schema_compat":
        report = compat.check(
            compat.load_manifest(ROOT / compat.COMMITTED_BASELINE),
            compat.load_manifest(workspace.manifest_path),
            ROOT / compat.ACKNOWLEDGEMENTS,
        )
        print(len(report.changes), "breaking changes")
    else:
        raise SystemExit(f"unknown step {name}")
    return 0


def run(scales: list[int], seed: int) -> list[Measurement]:
    results: list[Measurement] = []

    def step(name: str, scale: int) -> Measurement:
        command = [sys.executable, "-m", "cicd.dbt.bench", "--step", name, "--scale", str(scale), "--seed", str(seed)]
        measurement = measure(name, scale, command, {"PYTHONPATH": str(ROOT)})
        results.append(measurement)
        return measurement

    for scale in scales:
        for name in ("generate", "load_duckdb", "dbt_build_duckdb"):
            step(name, scale)
        if scale == 1:
            step("snowflake_compile_and_fakesnow_build", scale)
    sqlfluff = str(Path(sys.executable).parent / "sqlfluff")
    results.append(measure("sql_lint", None, [sqlfluff, "lint", "dbt_project/models", "dbt_project/tests"]))
    step("schema_compat", scales[0]).scale = None
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", type=int, action="append", help="data scale (repeatable; default 1)")
    parser.add_argument("--seed", type=int, default=42, help="synthetic data seed (default 42)")
    parser.add_argument("--json", action="store_true", help="print the measurements as JSON instead of the table")
    parser.add_argument("--step", help=argparse.SUPPRESS)  # one step, in the process the benchmark measures


def run_from_args(args: argparse.Namespace) -> int:
    if args.step:
        return _step(args.step, (args.scale or [1])[0], args.seed)
    results = run(args.scale or [1], args.seed)
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
        return 0 if all(r.ok for r in results) else 1
    from cicd.options import print_table

    rows = [
        (
            r.step,
            "-" if r.scale is None else r.scale,
            f"{r.wall_s:.1f}",
            f"{r.cpu_s:.1f}",
            f"{r.peak_rss_mb:.0f}",
            "yes" if r.ok else "NO",
            r.detail.splitlines()[-1] if r.detail and (r.step in ("generate", "load_duckdb") or not r.ok) else "",
        )
        for r in results
    ]
    columns = ("step", "scale", "wall s", "cpu s", "peak MB", "ok", "detail")
    print_table(columns, rows, right=("scale", "wall s", "cpu s", "peak MB"))
    return 0 if all(r.ok for r in results) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cicd dbt bench", description=__doc__)
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
