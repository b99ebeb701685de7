"""A pytest plugin the unit-tests check loads (`-p cicd.gate.pytest_outcomes`): each test module's outcome.

Writes JSON to the file named by GATE_TEST_OUTCOMES: per module (its path) whether anything in it failed
(a test, a fixture's setup or teardown, or collecting the module), how many tests ran, their seconds, and
whether the module ran to its end. The file is rewritten as each module completes, so a run that is killed
(the check's timeout) still leaves the passes of the modules it finished to store.
The check stores a pass only for complete modules that failed nothing (cicd/gate/testreuse.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

OUTCOMES_ENV = "GATE_TEST_OUTCOMES"
_modules: dict[str, dict[str, Any]] = {}


def _module(nodeid: str) -> dict[str, Any] | None:
    path = nodeid.split("::")[0]
    if not path.endswith(".py"):
        return None
    return _modules.setdefault(path, {"failed": False, "tests": 0, "seconds": 0.0, "complete": False})


def _write(exitstatus: int | None = None) -> None:
    target = os.environ.get(OUTCOMES_ENV)
    if target:
        partial = Path(f"{target}.partial")
        partial.write_text(json.dumps({"exitstatus": exitstatus, "modules": _modules}, indent=1))
        partial.replace(target)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    entry = _module(report.nodeid)
    if entry is not None and report.failed:
        entry["failed"] = True


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    entry = _module(report.nodeid)
    if entry is None:
        return
    entry["seconds"] += report.duration
    if report.failed:
        entry["failed"] = True
    if report.when == "call":
        entry["tests"] += 1


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    result = yield
    # Module-scoped fixtures are torn down with the module's last test: after it, the module is done.
    if nextitem is None or nextitem.nodeid.split("::")[0] != item.nodeid.split("::")[0]:
        entry = _module(item.nodeid)
        if entry is not None:
            entry["complete"] = True
            _write()
    return result


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED):
        for entry in _modules.values():
            entry["complete"] = True  # collected and everything selected in it ran (or nothing was selected)
    _write(int(exitstatus))
