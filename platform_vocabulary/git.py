"""Asking git about the checkout: one way to run it, one way for each caller to say what a failure means.

Callers differ in what a failure is: the release bundle and the audit evidence fall back to the
CodeBuild variables when there is no .git folder (`git_output` gives None), the data diff and the
baseline stop with their own error naming the command and git's words (`GitRun.or_raise`). Git
that is not installed or that hangs is a failed run like any other, never a traceback.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GitRun:
    args: tuple[str, ...]
    returncode: int
    output: bytes
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def text(self) -> str:
        return self.output.decode("utf-8", errors="replace")

    def or_raise(self, error: type[Exception]) -> GitRun:
        """This run, or `error` naming the command and what git said."""
        if not self.ok:
            raise error(f"git {' '.join(self.args)} failed: {self.stderr.strip()}")
        return self


def git(root: Path, *args: str, timeout_s: float | None = None) -> GitRun:
    """Run `git <args>` in `root`; a missing git or a timeout is a failed run whose stderr says so."""
    try:
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, check=False, timeout=timeout_s)
    except OSError as exc:
        return GitRun(args, 127, b"", f"git could not be run: {exc}")
    except subprocess.TimeoutExpired:
        return GitRun(args, -1, b"", f"git did not finish within {timeout_s:.0f} s")
    return GitRun(args, proc.returncode, proc.stdout, proc.stderr.decode("utf-8", errors="replace"))


def git_output(root: Path, *args: str, timeout_s: float | None = None) -> str | None:
    """What `git <args>` printed, stripped; None when it failed, could not run or printed nothing."""
    run = git(root, *args, timeout_s=timeout_s)
    return (run.text.strip() or None) if run.ok else None
