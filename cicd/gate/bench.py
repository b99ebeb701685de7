"""Gate wall time on a scratch clone of HEAD: `make bench-gate` or `cicd gate-bench`.

Never touches this checkout: it clones HEAD into a temporary folder (toolchain symlinked, unless
--install-toolchain) and measures, in order:

cold              --all --no-cache on the fresh clone (no result cache, no mypy cache)
warm --no-cache   the same again: tool caches warm, every check runs
warm, cached      --all with nothing changed: every check reuses its stored pass
changed-only ...  --changed-since HEAD after a harmless one-line change to one file, one at a time
                  (DAG spec, dbt model, stack, Lambda handler); each change is reverted before the next
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOLCHAIN = (".venv", ".venv-checkov", "node_modules", ".make")


@dataclass(frozen=True)
class OneLineChange:
    label: str
    path: str
    line: str  # put first: a comment in the file's own syntax (appended, ruff format wants blank lines before it)


CHANGES = (
    OneLineChange("DAG spec", "dags/pipelines/crm_accounts.yaml", "# bench: a harmless one-line change\n"),
    OneLineChange("SQL model", "dbt_project/models/staging/crm/stg_crm__accounts.sql", "-- bench: a harmless change\n"),
    OneLineChange("stack", "stacks/storage_stack.py", "# bench: a harmless one-line change\n"),
    OneLineChange("Lambda handler", "pipeline_assets/ledger/handler.py", "# bench: a harmless one-line change\n"),
)


@dataclass
class Step:
    label: str
    seconds: float
    passed: bool
    checks: dict[str, str]  # check -> "12.3" (ran), "reused", "skip"


def _gate(clone: Path, env: dict[str, str], label: str, *args: str) -> Step:
    cmd = [str(clone / ".venv" / "bin" / "python"), "-m", "cicd", "validate", *args]
    report = clone / "build" / "gate" / "report.json"
    report.unlink(missing_ok=True)
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=clone, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} exited {proc.returncode}:\n{(proc.stdout + proc.stderr)[-3000:]}")
    if proc.returncode == 1:
        print(f"warning: the gate failed in step {label!r}:\n{proc.stdout[-2000:]}", file=sys.stderr)
    checks: dict[str, str] = {}
    if report.exists():
        for check in json.loads(report.read_text())["checks"]:
            cache = check.get("cache") or {}
            if cache.get("action") == "reused":
                checks[check["name"]] = "reused"
            elif check["status"] == "skipped":
                checks[check["name"]] = "skip"
            else:
                checks[check["name"]] = f"{check['duration_s']:.1f}"
    print(f"  {label}: {elapsed:.1f} s", file=sys.stderr, flush=True)
    return Step(label, elapsed, proc.returncode == 0, checks)


def _clone(tmp: Path, install: bool, env: dict[str, str]) -> Path:
    clone = tmp / "repo"
    subprocess.run(["git", "clone", "--quiet", "--local", str(ROOT), str(clone)], check=True)
    if install:
        env |= {"UV_CACHE_DIR": f"{tmp}/uv-cache", "npm_config_cache": f"{tmp}/npm-cache"}
        subprocess.run(["make", "venv"], cwd=clone, env=env, check=True)
    else:
        for name in TOOLCHAIN:
            if (ROOT / name).exists():
                (clone / name).symlink_to((ROOT / name).resolve())
    return clone


def measure(clone: Path, env: dict[str, str], changes: tuple[OneLineChange, ...] = CHANGES) -> list[Step]:
    steps = [
        _gate(clone, env, "cold (--all --no-cache, fresh clone)", "--all", "--no-cache"),
        _gate(clone, env, "warm --no-cache", "--all", "--no-cache"),
        _gate(clone, env, "warm, cached, nothing changed", "--all"),
    ]
    for change in changes:
        target = clone / change.path
        original = target.read_bytes()
        target.write_bytes(change.line.encode() + original)
        try:
            steps.append(_gate(clone, env, f"changed-only: {change.label} ({change.path})", "--changed-since", "HEAD"))
        finally:
            target.write_bytes(original)
    return steps


def render(steps: list[Step], load: tuple[str, str]) -> str:
    width = max(len(s.label) for s in steps)
    lines = [f"load average before: {load[0]}", f"load average after:  {load[1]}", ""]
    lines.append(f"{'step'.ljust(width)}  {'seconds':>8}  gate")
    lines += [f"{s.label.ljust(width)}  {s.seconds:8.1f}  {'PASS' if s.passed else 'FAIL'}" for s in steps]
    names = sorted({name for s in steps for name in s.checks})
    short = ["cold", "warm-nc", "cached", *[f"chg{i + 1}" for i in range(len(steps) - 3)]]
    lines += ["", f"{'check (s; reused; skip; - not selected)':40}" + "".join(f"{h:>9}" for h in short)]
    for name in names:
        lines.append(f"{name:40}" + "".join(f"{s.checks.get(name, '-'):>9}" for s in steps))
    return "\n".join(lines)


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--install-toolchain", action="store_true", help="run `make venv` with empty uv/npm caches in the clone"
    )


def run_from_args(args: argparse.Namespace) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATE_CACHE_")}  # the clone's own cache
    before = _load()
    with tempfile.TemporaryDirectory(prefix="gate-bench-") as tmp:
        clone = _clone(Path(tmp), args.install_toolchain, env)
        steps = measure(clone, env)
    print(render(steps, (before, _load())))
    return 0 if all(s.passed for s in steps) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cicd gate-bench", description=(__doc__ or "").splitlines()[0])
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
