"""What the trusted Validate build's cache carries from one build into the next (issue 17 #5).

CodeBuild archives every file matching the project's cache paths at the end of a build and restores
them at the start of the next. The test plays that with real files and a real virtual environment: an
unapproved commit's build leaves a `.pth` file in `.venv`; whatever the cache restores is then started.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from constructs.gate_build_spec import TOOLCHAIN_CACHE_PATHS, TRUSTED_CACHE_PATHS


def cached(paths: list[str], workspace: Path, root: Path) -> dict[str, Path]:
    """The files CodeBuild archives: each glob relative to the source directory, or absolute (under `root`)."""
    found: dict[str, Path] = {}
    for pattern in paths:
        base, relative = (root, pattern.lstrip("/")) if pattern.startswith("/") else (workspace, pattern)
        for path in base.glob(relative):
            if path.is_file():
                found[("/" if base == root else "") + path.relative_to(base).as_posix()] = path
    return found


def restore(files: dict[str, Path], workspace: Path, root: Path) -> None:
    for name, source in files.items():
        target = root / name.lstrip("/") if name.startswith("/") else workspace / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def poisoned_build(workspace: Path, root: Path, marker: Path) -> None:
    """An unapproved commit's build: a real venv with a startup hook, and files in every toolchain store."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(workspace / ".venv")], check=True)
    [site] = (workspace / ".venv" / "lib").glob("python3*/site-packages")
    (site / "zz_hook.pth").write_text(f"import pathlib; pathlib.Path({str(marker)!r}).write_text('ran')\n")
    for name in (
        ".venv-checkov/bin/checkov",
        "node_modules/.bin/cdk",
        ".make/venv-0123456789abcdef",
        "build/gate/mypy-cache/3.11/app.meta.json",
    ):
        (workspace / name).parent.mkdir(parents=True, exist_ok=True)
        (workspace / name).write_text("planted\n")
    for name in ("root/.cache/uv/archive-v0/x/requests/__init__.py", "root/.npm/_cacache/content-v2/sha512/ab/cd"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("planted\n")


def next_build(paths: list[str], tmp_path: Path) -> tuple[set[str], bool]:
    """Restore what the first build cached into a fresh checkout, start its Python as `make` would, if any."""
    marker = tmp_path / "hook-ran"
    first, second = tmp_path / "first", tmp_path / "second"
    poisoned_build(first / "src", first, marker)
    restore(cached(paths, first / "src", first), second / "src", second)
    python = second / "src" / ".venv" / "bin" / "python"
    if python.exists():
        subprocess.run([str(python), "-c", "pass"], check=True)
    restored = {p.relative_to(second).as_posix() for p in second.rglob("*") if p.is_file()}
    return restored, marker.exists()


def test_an_unapproved_builds_startup_hook_never_reaches_the_next_trusted_build(tmp_path):
    restored, hook_ran = next_build(TRUSTED_CACHE_PATHS, tmp_path)

    assert not hook_ran
    assert restored == {"root/.npm/_cacache/content-v2/sha512/ab/cd", "src/build/gate/mypy-cache/3.11/app.meta.json"}


@pytest.mark.skipif(not Path(sys.executable).exists(), reason="needs the interpreter")
def test_the_pull_request_cache_paths_would_carry_the_hook_which_is_why_they_stay_out_of_validate(tmp_path):
    """The attack, played with the paths Validate cached before issue 17 (still the pull requests' own cache)."""
    restored, hook_ran = next_build(TOOLCHAIN_CACHE_PATHS, tmp_path)

    assert hook_ran and any(name.endswith("zz_hook.pth") for name in restored)


def test_stamps_are_never_cached_anywhere():
    assert not [p for p in (*TRUSTED_CACHE_PATHS, *TOOLCHAIN_CACHE_PATHS) if p.startswith(".make")]
