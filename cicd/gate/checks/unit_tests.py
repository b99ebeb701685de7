"""The pytest suite minus `slow` tests (whole-tool runs on fixtures, left to `make test`) and `external` ones
(the external-systems check runs those)."""

from __future__ import annotations

import fnmatch
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import PurePosixPath

from cicd.gate.model import Check, Finding, GateContext, ToolError
from cicd.gate.registry import register
from cicd.gate.tools import run_tool

NO_TESTS_COLLECTED = 5
# A change to these reaches every test: run the whole suite.
WHOLE_SUITE_TRIGGERS = ("pyproject.toml", "requirements*", "tests/conftest.py", "app.py", "config/*")
LOCATION = re.compile(r"^(?P<file>[\w./-]+\.py):(?P<line>\d+):", re.MULTILINE)


def affected_tests(ctx: GateContext, patterns: tuple[str, ...] = ("*",)) -> list[str]:
    """Under --changed-since: the test folders that mirror the changed files; [] means the whole suite.

    tests/ mirrors the source tree, so a change to dags/platform_dags/x.py is tested by
    tests/dags/platform_dags/ (or the nearest existing parent folder under tests/). A change to
    shared configuration, or to something with no folder of its own below tests/, runs everything.
    """
    if ctx.changed_files is None:
        return []
    changed = ctx.changed(patterns)
    if any(fnmatch.fnmatch(f, pattern) for f in ctx.changed_files for pattern in WHOLE_SUITE_TRIGGERS):
        return []
    targets: set[str] = set()
    for path in changed:
        if path.startswith("tests/"):
            if (ctx.root / path).exists():
                targets.add(path if path.endswith(".py") else str(PurePosixPath(path).parent))
            continue
        folder = PurePosixPath("tests", path).parent
        while folder != PurePosixPath("tests") and not (ctx.root / folder).is_dir():
            folder = folder.parent
        if folder == PurePosixPath("tests"):
            return []  # nothing mirrors it: only the whole suite is safe
        targets.add(str(folder))
    # Drop targets inside another target: pytest would collect them twice.
    return sorted(t for t in targets if not any(t != o and t.startswith(o + "/") for o in targets))


@register
class UnitTests(Check):
    name = "unit-tests"
    expected_seconds = 120
    description = "pytest -m 'not slow and not external' (Spark transforms, handlers, models, the gate itself)"
    paths = ("*.py", "tests/*", "pyproject.toml", "config/*", "dags/*", "pipeline_assets/*", "dbt_project/*")

    def run(self, ctx: GateContext) -> list[Finding]:
        junit = ctx.report_path("unit-tests.xml")
        targets = affected_tests(ctx, self.paths)
        self.summary_note = "all tests" if not targets else f"tests for the change: {', '.join(targets)}"
        proc = run_tool(
            [
                sys.executable,
                "-m",
                "pytest",
                "-m",
                "not slow and not external",
                "-q",
                "-p",
                "no:cacheprovider",
                f"--junitxml={junit}",
                *targets,
            ],
            cwd=ctx.root,
            env={"SPARK_LOCAL_IP": "127.0.0.1", "PYTHONDONTWRITEBYTECODE": "1"},
            ok_codes=(0, 1, NO_TESTS_COLLECTED),
            timeout_s=900,
        )
        if proc.returncode == NO_TESTS_COLLECTED:
            raise ToolError("pytest collected no tests: a gate that runs no test is not a pass")
        if not junit.exists():
            raise ToolError(f"pytest wrote no report:\n{proc.stdout[-1500:]}")
        findings = []
        # The report is the one pytest just wrote in our own build folder, not untrusted input.
        for case in ET.parse(junit).iter("testcase"):  # noqa: S314
            for problem in [*case.findall("failure"), *case.findall("error")]:
                text = problem.text or ""
                where = LOCATION.findall(text)
                file, line = (where[-1][0], int(where[-1][1])) if where else (case.get("file"), None)
                message = (problem.get("message") or "failed").splitlines()[0][:300]
                findings.append(
                    Finding(
                        rule=f"pytest:{problem.tag}",
                        message=f"{case.get('classname')}::{case.get('name')}: {message}",
                        file=file,
                        line=line,
                        fix="run `make test` (or pytest on that file) and read the assertion",
                    )
                )
        if proc.returncode == 1 and not findings:
            raise ToolError(f"pytest failed but its report names no failing test:\n{proc.stdout[-1500:]}")
        return findings
