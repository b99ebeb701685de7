"""The pytest suite minus `slow` tests (whole-tool runs on fixtures, left to `make test`) and `external` ones
(the external-systems check runs those)."""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET

from cicd.gate.model import Check, Finding, GateContext, ToolError
from cicd.gate.registry import register
from cicd.gate.tools import run_tool

NO_TESTS_COLLECTED = 5
LOCATION = re.compile(r"^(?P<file>[\w./-]+\.py):(?P<line>\d+):", re.MULTILINE)


@register
class UnitTests(Check):
    name = "unit-tests"
    expected_seconds = 120
    description = "pytest -m 'not slow and not external' (Spark transforms, handlers, models, the gate itself)"
    paths = ("*.py", "tests/*", "pyproject.toml", "config/*", "dags/*", "pipeline_assets/*", "dbt_project/*")

    def run(self, ctx: GateContext) -> list[Finding]:
        junit = ctx.report_path("unit-tests.xml")
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
