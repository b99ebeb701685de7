"""Gate wall time, cold and warm, on a clean clone of HEAD: `make bench-gate` or `python -m cicd.gate.bench`.

cold  = fresh clone, empty uv and npm caches, `make venv` then the full gate
warm  = the full gate again in the same clone (toolchain and caches present)
delta = `--changed-since HEAD` after a one-line change to one Python file
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} exited {proc.returncode}:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return elapsed


def _per_check(clone: Path) -> dict[str, tuple[str, float]]:
    report = json.loads((clone / "build" / "gate" / "report.json").read_text())
    return {c["name"]: (c["status"], c["duration_s"]) for c in report["checks"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm-only", action="store_true", help="reuse this checkout's caches (skip cold install)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gate-bench-") as tmp:
        clone = Path(tmp) / "repo"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        env = {**os.environ}
        rows: list[tuple[str, float]] = []
        if args.warm_only:
            for name in (".venv", ".venv-checkov", "node_modules", ".make"):
                (clone / name).symlink_to(ROOT / name)
        else:
            env |= {"UV_CACHE_DIR": f"{tmp}/uv-cache", "npm_config_cache": f"{tmp}/npm-cache"}
            rows.append(("cold: make venv (empty caches)", _run(["make", "venv"], clone, env)))
        gate = [str(clone / ".venv" / "bin" / "python"), "-m", "cicd", "validate"]
        rows.append(("first full gate", _run([*gate, "--all"], clone, env)))
        first = _per_check(clone)
        rows.append(("warm full gate", _run([*gate, "--all"], clone, env)))
        warm = _per_check(clone)
        target = next(p for p in sorted(clone.glob("cicd/**/*.py")) if p.name != "__init__.py")
        target.write_text(target.read_text() + "\n# bench: one-line change\n")
        rows.append(("--changed-since HEAD, one .py file", _run([*gate, "--changed-since", "HEAD"], clone, env)))
        delta = _per_check(clone)

    print(f"\n{'step':40} {'seconds':>8}")
    for label, seconds in rows:
        print(f"{label:40} {seconds:8.1f}")
    print(f"\n{'check':22} {'first':>8} {'warm':>8} {'delta':>8}  status(warm)")
    for name in sorted(first):
        d = f"{delta[name][1]:8.1f}" if name in delta else f"{'-':>8}"
        print(f"{name:22} {first[name][1]:8.1f} {warm[name][1]:8.1f} {d}  {warm[name][0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
