"""Live progress of a gate run on stderr: what runs, for how long against what it usually takes, and each
check's findings the moment it ends (stdout keeps the report, so `--json` output stays clean).

On a terminal: a rich live area with one line per running check (elapsed / expected, a bar) under the lines
of finished checks. Not on a terminal (CI logs, pipes, TERM=dumb): no live area and no colour codes, only a
line per finished check and its findings, which is what a CI log needs from a gate. The terminal test and
the console are cicd/options.py's, so NO_COLOR and TERM=dumb behave as in every other command.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text

from cicd.gate.model import Check, CheckResult, Status
from cicd.options import console, is_terminal

SYMBOL = {Status.PASSED: "PASS", Status.FAILED: "FAIL", Status.ERROR: "ERROR", Status.SKIPPED: "SKIP"}
STYLE = {Status.PASSED: "green", Status.FAILED: "bold red", Status.ERROR: "bold red", Status.SKIPPED: "yellow"}
FINDINGS_SHOWN = 20  # the rest are in the report printed at the end


def bar(elapsed: float, expected: float, width: int = 20) -> str:
    """Elapsed against expected, as a bar that stops full when a check runs over."""
    filled = min(width, int(width * elapsed / expected)) if expected > 0 else width
    return "█" * filled + "·" * (width - filled)


def finished_lines(result: CheckResult, expected: float | None) -> list[str]:
    """A finished check's line and its findings, as plain text."""
    took = "reused" if result.reused else f"{result.duration_s:.1f}s"
    against = f" (expected ~{expected:.0f}s)" if expected and not result.reused else ""
    summary = result.summary.splitlines()[0] if result.summary else ""
    lines = [f"{SYMBOL[result.status]:5} {result.name} {took}{against}  {summary}".rstrip()]
    if result.status is Status.ERROR and "\n" in result.summary:
        lines += ["      " + line for line in result.summary.splitlines()[1:8]]
    shown = [f for f in result.findings if f.severity == "error"]
    for finding in shown[:FINDINGS_SHOWN]:
        lines.append(f"      {finding.render()}")
    if len(shown) > FINDINGS_SHOWN:
        lines.append(f"      ... and {len(shown) - FINDINGS_SHOWN} more in the report")
    return lines


class GateProgress:
    """A run_checks listener; use as a context manager around the run."""

    def __init__(self, checks: Sequence[Check], stream: TextIO, *, live: bool | None = None) -> None:
        self.expected = {check.name: check.expected_seconds for check in checks}
        self.live_enabled = is_terminal(stream) if live is None else live
        self.console: Console = console(stream)
        if not self.live_enabled:
            self.console = Console(file=stream, highlight=False, no_color=True, force_terminal=False, width=400)
        self.running: dict[str, float] = {}
        self._lock = threading.Lock()
        self._live: Live | None = None

    def __enter__(self) -> GateProgress:
        if self.live_enabled:
            # get_renderable is called on every refresh, so the elapsed times keep moving between events.
            self._live = Live(console=self.console, refresh_per_second=4, transient=True, get_renderable=self._render)
            self._live.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.stop()

    def __call__(self, name: str, result: CheckResult | None) -> None:
        with self._lock:
            if result is None:
                self.running[name] = time.monotonic()
                return
            self.running.pop(name, None)
            lines = finished_lines(result, self.expected.get(name))
        if self.live_enabled:
            head, *rest = lines
            self.console.print(Text(head, style=STYLE[result.status]))
            for line in rest:
                self.console.print(Text(line))
        else:
            for line in lines:
                self.console.print(line, markup=False, soft_wrap=True)

    def _render(self) -> RenderableType:
        now = time.monotonic()
        with self._lock:
            running = sorted(self.running.items(), key=lambda item: item[1])
        rows = []
        for name, started in running:
            elapsed, expected = now - started, self.expected.get(name, 0.0)
            over = " (over the usual time)" if expected and elapsed > expected * 1.5 else ""
            rows.append(Text(f"  … {name:<20} {bar(elapsed, expected)} {elapsed:5.0f}s / ~{expected:.0f}s{over}"))
        return Group(*rows) if rows else Text("")
