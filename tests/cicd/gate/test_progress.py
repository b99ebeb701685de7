"""Live progress on stderr: elapsed against expected while checks run, findings the moment a check ends."""

import io
import time

from rich.console import Console

from cicd.gate.model import Check, CheckResult, Finding, Status
from cicd.gate.progress import GateProgress, bar


class Synth(Check):
    name = "cdk-synth"
    description = "synth"
    expected_seconds = 15


class Lint(Check):
    name = "python-lint"
    description = "lint"
    expected_seconds = 2


def test_not_on_a_terminal_each_finished_check_prints_at_once_with_its_findings_and_no_colour_codes():
    out = io.StringIO()
    progress = GateProgress([Synth(), Lint()], out)
    with progress:
        progress("python-lint", None)
        progress("cdk-synth", None)
        failed = CheckResult(
            "python-lint",
            Status.FAILED,
            0.4,
            [Finding("ruff:F401", "unused import", "a.py", 3, "remove it")],
            "1 problem(s)",
        )
        progress("python-lint", failed)
        assert out.getvalue().splitlines() == [
            "FAIL  python-lint 0.4s (expected ~2s)  1 problem(s)",
            "      a.py:3: [ruff:F401] unused import Fix: remove it",
        ]  # printed while cdk-synth still runs, not at the end
        progress("cdk-synth", CheckResult("cdk-synth", Status.SKIPPED, summary="skipped: python-lint failed"))
    assert out.getvalue().splitlines()[-1] == "SKIP  cdk-synth 0.0s (expected ~15s)  skipped: python-lint failed"
    assert "\x1b[" not in out.getvalue()


def test_on_a_terminal_running_checks_show_elapsed_against_expected():
    progress = GateProgress([Synth()], io.StringIO(), live=False)
    progress("cdk-synth", None)
    progress.running["cdk-synth"] = time.monotonic() - 9
    console = Console(file=io.StringIO(), width=120)
    console.print(progress._render())
    rendered = console.file.getvalue()
    assert "cdk-synth" in rendered and "9s / ~15s" in rendered


def test_the_bar_fills_with_elapsed_time_and_stops_full_when_a_check_runs_over():
    assert bar(5, 10, width=10) == "█████·····"
    assert bar(30, 10, width=10) == "██████████"


class TerminalLike(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_dumb_terminal_gets_plain_lines_and_no_live_area(monkeypatch):
    """TERM=dumb (Emacs shells, some CI runners) is no terminal for any cicd command: no cursor movement."""
    monkeypatch.setenv("TERM", "dumb")
    out = TerminalLike()
    progress = GateProgress([Lint()], out)
    assert not progress.live_enabled
    with progress:
        progress("python-lint", None)
        progress("python-lint", CheckResult("python-lint", Status.PASSED, 0.3, [], "0 problem(s)"))
    assert out.getvalue() == "PASS  python-lint 0.3s (expected ~2s)  0 problem(s)\n"


def test_a_terminal_gets_the_live_area(monkeypatch):
    monkeypatch.setenv("TERM", "xterm-256color")
    assert GateProgress([Lint()], TerminalLike()).live_enabled
