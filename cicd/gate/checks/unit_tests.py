"""The pytest suite minus `slow` tests (whole-tool runs on fixtures, left to `make test`) and `external` ones
(the external-systems check runs those)."""

from __future__ import annotations

import os
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from cicd.gate.batch import shard
from cicd.gate.keys import KeyMaker
from cicd.gate.model import Check, Finding, GateContext, ToolError
from cicd.gate.pytest_outcomes import OUTCOMES_ENV
from cicd.gate.registry import register
from cicd.gate.selection import TestSelection, select_tests
from cicd.gate.testreuse import Partition, TestModuleCache, TestModuleKeys, read_outcomes, test_modules
from cicd.gate.tools import run_tool

NO_TESTS_COLLECTED = 5
MARKERS = "not slow and not external"
GATE_ROOT = Path(__file__).resolve().parents[3]
LOCATION = re.compile(r"^(?P<file>[\w./-]+\.py):(?P<line>\d+):", re.MULTILINE)


def affected_tests(ctx: GateContext, patterns: tuple[str, ...] = ("*",)) -> TestSelection:
    """Under --changed-since: the test modules that import or read a changed file (cicd/gate/selection.py).

    Under --all, or when the change reaches everything, the whole suite.
    """
    if ctx.changed_files is None:
        return TestSelection(whole_suite=True)
    return select_tests(ctx.root, ctx.changed(patterns), KeyMaker.of(ctx).graph)


@register
class UnitTests(Check):
    name = "unit-tests"
    expected_seconds = 120
    narrows = True
    # A typo in a spec or the config, or a syntax error, fails dozens of tests at once: let the check that
    # names it in seconds go first, and skip the suite when it fails (--keep-going runs it anyway).
    after = ("config", "python-lint", "dag-integrity")
    reads_staged_packages = True  # the stack tests synthesize the app, which checks them under PACKAGES_REQUIRED
    # Tests read more than the paths that select them (cdk.json, README.md, fixtures): any file counts for reuse.
    inputs = ("*",)
    description = "pytest -m 'not slow and not external' (Spark transforms, handlers, models, the gate itself)"
    paths = ("*.py", "tests/*", "pyproject.toml", "config/*", "dags/*", "pipeline_assets/*", "dbt_project/*")

    def run(self, ctx: GateContext) -> list[Finding]:
        junit = ctx.report_path("unit-tests.xml")
        junit.unlink(missing_ok=True)
        selection = affected_tests(ctx, self.paths)
        keys = KeyMaker.of(ctx)
        candidates = test_modules(keys.files) if selection.whole_suite else selection.tests
        scope = "all tests" if selection.whole_suite else f"{len(candidates)} test module(s) reach the change"
        if ctx.test_shard is not None:
            candidates = shard(candidates, *ctx.test_shard)
            scope += " [shard {}/{}: {} module(s)]".format(*ctx.test_shard, len(candidates))
        if selection.reasons:
            scope += f" ({selection.describe()})"
        if not candidates and selection.whole_suite:
            raise ToolError("pytest collected no tests: a gate that runs no test is not a pass")
        if not candidates:
            self.summary_note = f"no test module imports or reads the change ({selection.describe()})"
            return []
        cache = None
        if ctx.store is not None:
            cache = TestModuleCache(ctx.store, TestModuleKeys(keys, MARKERS), lookup=ctx.use_stored)
        partition = cache.partition(candidates) if cache else Partition(run=list(candidates))
        reused = f"{len(partition.reused)} reused their stored pass, " if partition.reused else ""
        if not partition.run:
            self.summary_note = f"{scope}: all {len(candidates)} module(s) reused their stored pass"
            return []
        outcomes = ctx.report_path("unit-tests-outcomes.json")
        outcomes.unlink(missing_ok=True)
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-m",
            MARKERS,
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "cicd.gate.pytest_outcomes",
            # One module that fails to import must not hide the results (and the reusable passes) of the rest.
            "--continue-on-collection-errors",
            f"--junitxml={junit}",
            *partition.run,
        ]
        env = {
            "SPARK_LOCAL_IP": "127.0.0.1",
            OUTCOMES_ENV: str(outcomes),
            # The outcomes plugin is the gate's own module: importable even when the tests are another tree's.
            "PYTHONPATH": os.pathsep.join(filter(None, (os.environ.get("PYTHONPATH"), str(GATE_ROOT)))),
        }
        try:
            proc = run_tool(command, cwd=ctx.root, env=env, ok_codes=(0, 1, NO_TESTS_COLLECTED), timeout_s=900)
        except ToolError:
            if cache:  # killed or crashed: the modules it finished still keep their passes for the next run
                cache.record(partition, read_outcomes(outcomes))
            raise
        stored = cache.record(partition, read_outcomes(outcomes)) if cache else 0
        self.summary_note = f"{scope}: {reused}{len(partition.run)} ran, {stored} pass(es) stored"
        if proc.returncode == NO_TESTS_COLLECTED:
            self.summary_note = f"{scope}: the {len(partition.run)} module(s) to run hold only slow or external tests"
            return []
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
