"""A pytest plugin the unit-tests check loads (`-p cicd.gate.pytest_outcomes`): each test module's outcome.

Writes JSON to the file named by GATE_TEST_OUTCOMES: per module (its path) whether anything in it failed
(a test, a fixture's setup or teardown, or collecting the module), how many tests ran and their seconds.
The check stores a pass only for modules that ran without any failure (cicd/gate/testreuse.py).
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
    return _modules.setdefault(path, {"failed": False, "tests": 0, "seconds": 0.0})


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


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = os.environ.get(OUTCOMES_ENV)
    if target:
        Path(target).write_text(json.dumps({"exitstatus": int(exitstatus), "modules": _modules}, indent=1))
