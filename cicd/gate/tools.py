"""Running external tools from the project's own environments, with failures made explicit."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from platform_vocabulary.findings import ToolError
from platform_vocabulary.tools import BYTECODE_CACHE, run_tool, tool_environment

__all__ = ["BYTECODE_CACHE", "run_tool", "tool_environment", "tool_path"]

VENV_BIN = Path(sys.executable).parent


def tool_path(name: str, root: Path | None = None) -> str:
    """Find a tool in the gate's own virtual environment first, then the project's node_modules."""
    candidates = [VENV_BIN / name]
    if root is not None:
        candidates += [root / ".venv-checkov" / "bin" / name, root / "node_modules" / ".bin" / name]
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise ToolError(f"{name} is not installed; run `make venv` (it installs the pinned toolchain)")
    return found
