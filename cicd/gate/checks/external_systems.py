"""The external-system tests (S3, Snowflake stages, Kafka) on their local substitutes.

Same test code as the staging run (tests/external/, docs/external-systems.md); here nothing is
configured, so S3 is moto in server mode, Snowflake is fakesnow and Kafka is a real broker on 127.0.0.1
(its locked jars come from the engine jar cache; Maven fetches them on a machine without). A missing
substitute or a collection error is a tool error, never a pass.
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from cicd.gate.model import Check, Finding, GateContext, ToolError
from cicd.gate.registry import register
from cicd.gate.tools import run_tool

TESTS = "tests/external"
NO_TESTS_COLLECTED = 5
STAGING_VARIABLES = ("EXTERNAL_S3_BUCKET", "EXTERNAL_SNOWFLAKE_ACCOUNT", "EXTERNAL_KAFKA_BOOTSTRAP")
LOCATION = re.compile(r"^(?P<file>[\w./-]+\.py):(?P<line>\d+):", re.MULTILINE)


def findings_from_junit(report: Path) -> list[Finding]:
    findings = []
    for case in ET.parse(report).iter("testcase"):  # noqa: S314 (our own pytest report, not untrusted input)
        for problem in [*case.findall("failure"), *case.findall("error")]:
            where = LOCATION.findall(problem.text or "")
            file, line = (where[-1][0], int(where[-1][1])) if where else (case.get("file"), None)
            message = (problem.get("message") or "failed").splitlines()[0][:300]
            findings.append(
                Finding(
                    rule=f"external:{problem.tag}",
                    message=f"{case.get('classname')}::{case.get('name')}: {message}",
                    file=file,
                    line=line,
                    fix=f"run `pytest {TESTS} -m external` and read the assertion; docs/external-systems.md",
                )
            )
    return findings


@register
class ExternalSystems(Check):
    name = "external-systems"
    expected_seconds = 60
    description = "S3 (moto server), Snowflake stage PUT/COPY (fakesnow), Kafka clients (local broker) + Spark"
    paths = (
        "tests/external/*",
        "pipeline_assets/spark/*",
        "pipeline_assets/streaming_control/*",
        "pipeline_assets/schemas/*",
        "cicd/engines/*",
    )

    def run(self, ctx: GateContext) -> list[Finding]:
        report = ctx.report_path("external-systems.xml")
        report.unlink(missing_ok=True)
        # The gate validates locally: staging endpoints in the environment must not leak into it.
        unset = dict.fromkeys(STAGING_VARIABLES, "")
        proc = run_tool(
            [
                sys.executable,
                "-m",
                "pytest",
                TESTS,
                "-m",
                "external",
                "-q",
                "-p",
                "no:cacheprovider",
                f"--junitxml={report}",
            ],
            cwd=ctx.root,
            env={"SPARK_LOCAL_IP": "127.0.0.1", **unset},
            ok_codes=(0, 1, NO_TESTS_COLLECTED),
            timeout_s=600,
        )
        if proc.returncode == NO_TESTS_COLLECTED:
            raise ToolError(f"pytest collected no test in {TESTS}: an empty external-system suite is not a pass")
        if not report.exists():
            raise ToolError(f"pytest wrote no report:\n{proc.stdout[-1500:]}")
        findings = findings_from_junit(report)
        if proc.returncode == 1 and not findings:
            raise ToolError(f"pytest failed without naming a failing test:\n{proc.stdout[-1500:]}")
        return findings
