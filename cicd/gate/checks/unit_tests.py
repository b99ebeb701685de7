"""The pytest suite minus `slow` tests (whole-tool runs on fixtures, left to `make test`) and `external` ones
(the external-systems check runs those)."""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET

from cicd.gate.model import Check, Finding, GateContext, ToolError
from cicd.gate.registry import register
from cicd.gate.selection import TestSelection, select_tests
from cicd.gate.tools import run_tool

NO_TESTS_COLLECTED = 5
LOCATION = re.compile(r"^(?P<file>[\w./-]+\.py):(?P<line>\d+):", re.MULTILINE)


def affected_tests(ctx: GateContext, patterns: tuple[str, ...] = ("*",)) -> TestSelection:
    """Under --changed-since: the test modules that import or read a changed file (cicd/gate/selection.py).

    Under --all, or when the change reaches everything, the whole suite.
    """
    if ctx.changed_files is None:
        return TestSelection(whole_suite=True)
    return select_tests(ctx.root, ctx.changed(patterns))


@register
class UnitTests(Check):
    name = "unit-tests"
    expected_seconds = 120
    narrows = True
    # A typo in a spec or the config, or a syntax error, fails dozens of tests at once: let the check that
    # names it in seconds go first, and skip the suite when it fails (--keep-going runs it anyway).
    after = ("config", "python-lint", "dag-integrity")
    # Tests read more than the paths that select them (cdk.json, README.md, fixtures): any file counts for reuse.
    inputs = ("*",)
    description = "pytest -m 'not slow and not external' (Spark transforms, handlers, models, the gate itself)"
    paths = ("*.py", "tests/*", "pyproject.toml", "config/*", "dags/*", "pipeline_assets/*", "dbt_project/*")

    def run(self, ctx: GateContext) -> list[Finding]:
        junit = ctx.report_path("unit-tests.xml")
        selection = affected_tests(ctx, self.paths)
        targets = selection.tests
        if selection.whole_suite:
            self.summary_note = "all tests" + (f" ({selection.describe()})" if selection.reasons else "")
        elif not targets:
            self.summary_note = f"no test module imports or reads the change ({selection.describe()})"
            return []
        else:
            self.summary_note = f"{len(targets)} test module(s) reach the change ({selection.describe()})"
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
        if proc.returncode == NO_TESTS_COLLECTED and targets:
            self.summary_note = f"the {len(targets)} test module(s) that reach the change are all slow or external"
            return []
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
