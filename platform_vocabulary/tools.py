"""Running an external tool with its failures made explicit: a crash is a ToolError, never a pass."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from platform_vocabulary.findings import ToolError

# Where the Python tools keep their bytecode, relative to the checkout (under build/, out of the source tree).
# Never PYTHONDONTWRITEBYTECODE: uv installs packages without .pyc files, so a process that may not write
# bytecode compiles every module it imports from source, each time: aws_cdk alone is megabytes of generated
# Python, ~20 s of the unit tests' collection on a busy 2-core machine, paid again by every run.
BYTECODE_CACHE = "build/gate/pycache"


def tool_environment(cwd: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """os.environ with `env` on top, and Python bytecode written to and read from the checkout's BYTECODE_CACHE."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("PYTHONDONTWRITEBYTECODE", None)
    full_env.setdefault("PYTHONPYCACHEPREFIX", str(Path(cwd).resolve() / BYTECODE_CACHE))
    return full_env


def run_tool(
    args: list[str],
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout_s: float = 600,
    ok_codes: tuple[int, ...] = (0, 1),
) -> subprocess.CompletedProcess[str]:
    """Run a tool; exit codes outside ok_codes (crash, usage error, timeout) raise ToolError.

    Python tools keep their bytecode in BYTECODE_CACHE (tool_environment).

    Most linters exit 1 for "found problems": that is a result for the check to parse, not a crash.
    """
    full_env = tool_environment(cwd, env)
    try:
        proc = subprocess.run(
            args, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except FileNotFoundError as exc:
        raise ToolError(f"{args[0]} is not installed ({exc}); run `make venv`") from exc
    except subprocess.TimeoutExpired as exc:
        raise ToolError(f"{Path(args[0]).name} did not finish within {timeout_s:.0f} s") from exc
    if proc.returncode not in ok_codes:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise ToolError(f"{Path(args[0]).name} exited {proc.returncode}:\n{tail}")
    return proc
