"""`validate --plan`: what a gate run would do, and roughly how long it would take, without running anything.

Like `dbt ls` or `sqlmesh plan`: the changed files, each check that would run and why (a changed file matched
its paths, a check that needs it, --only), whether a stored pass would be reused, the test modules the
unit-tests check would run or reuse, and the expected wall time from the checks' usual durations, scheduled
the way the runner schedules them.
"""

from __future__ import annotations

import fnmatch
import heapq
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

from cicd.gate.keys import KeyMaker
from cicd.gate.model import Check, GateContext
from cicd.gate.reuse import ResultCache
from cicd.gate.runner import critical_path, waits_for
from cicd.gate.testreuse import Partition, TestModuleCache, TestModuleKeys, test_modules
from cicd.options import print_table

PYTEST_START_SECONDS = 10.0  # interpreter, plugins and conftest imports before the first test runs
SHOWN_FILES = 3


@dataclass
class PlannedCheck:
    name: str
    why: str
    expected_seconds: float
    reused: bool = False


@dataclass
class TestPlan:
    __test__ = False
    scope: str
    run: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)


@dataclass
class Plan:
    scope: str
    changed_files: list[str] | None
    checks: list[PlannedCheck]
    not_selected: list[str]
    tests: TestPlan | None
    jobs: int
    expected_seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def why_selected(check: Check, ctx: GateContext) -> str:
    """The changed files that select the check, with the pattern each matched."""
    if not check.paths:
        return "always runs (no path filter)"
    hits = []
    for path in ctx.changed(check.paths):
        pattern = next(p for p in check.paths if fnmatch.fnmatch(path, p))
        hits.append(f"{path} matches {pattern}")
    more = f" (+{len(hits) - SHOWN_FILES} more)" if len(hits) > SHOWN_FILES else ""
    return "; ".join(hits[:SHOWN_FILES]) + more


def reasons(selected: Sequence[Check], ctx: GateContext, only: Sequence[str]) -> dict[str, str]:
    """Why each selected check is in the run."""
    wanted = set(only) if only else {c.name for c in selected if c.selected(ctx)}
    why: dict[str, str] = {}
    for check in selected:
        if check.name in wanted:
            if only:
                why[check.name] = "named by --only"
            elif ctx.changed_files is None:
                why[check.name] = "--all: every check runs"
            else:
                why[check.name] = why_selected(check, ctx)
    for check in selected:
        for need in check.needs:
            why.setdefault(need, f"needed by {check.name}")
    return why


def plan_tests(check: Check, ctx: GateContext) -> tuple[TestPlan, float]:
    """The unit-tests check's modules to run and to reuse, and its expected seconds."""
    from cicd.gate.checks.unit_tests import MARKERS, affected_tests

    keys = KeyMaker.of(ctx)
    selection = affected_tests(ctx, check.paths)
    every = test_modules(keys.files)
    candidates = every if selection.whole_suite else selection.tests
    scope = (
        "the whole suite" if selection.whole_suite else f"{len(candidates)} of {len(every)} modules reach the change"
    )
    partition = Partition(run=list(candidates))
    if ctx.store is not None:
        cache = TestModuleCache(ctx.store, TestModuleKeys(keys, MARKERS), lookup=ctx.use_stored)
        partition = cache.partition(candidates)
    per_module = max(check.expected_seconds - PYTEST_START_SECONDS, 0.0) / max(len(every), 1)
    seconds = PYTEST_START_SECONDS + per_module * len(partition.run) if partition.run else 0.0
    return TestPlan(scope, partition.run, sorted(partition.reused)), seconds


def simulate(checks: Sequence[Check], seconds: dict[str, float], jobs: int, *, keep_going: bool = False) -> float:
    """Wall time if every check took its expected seconds, scheduled as the runner does: longest chain first,
    at most `jobs` at a time, each after what it waits for."""
    present = {c.name for c in checks}
    priority = critical_path(checks, keep_going=keep_going)
    pending = {c.name: c for c in checks}
    done: dict[str, float] = {}
    running: list[tuple[float, str]] = []
    now = 0.0
    while pending or running:
        ready = sorted(
            (c for c in pending.values() if all(n in done for n in waits_for(c, present, keep_going=keep_going))),
            key=lambda c: -priority[c.name],
        )
        for check in ready:
            if seconds.get(check.name, 0.0) == 0.0:
                done[check.name] = now  # reused: finishes at once
                del pending[check.name]
            elif len(running) < max(1, jobs):
                heapq.heappush(running, (now + seconds[check.name], check.name))
                del pending[check.name]
        if any(seconds.get(c.name, 0.0) == 0.0 for c in ready):
            continue
        if not running:
            break
        now, name = heapq.heappop(running)
        done[name] = now
    return now


def make_plan(
    every: Sequence[Check],
    selected: Sequence[Check],
    ctx: GateContext,
    *,
    only: Sequence[str],
    cache: ResultCache | None,
    jobs: int,
    keep_going: bool,
    scope: str,
) -> Plan:
    why = reasons(selected, ctx, only)
    planned, seconds, tests = [], {}, None
    for check in selected:
        reused = cache is not None and cache.reuse(check) is not None
        expected = 0.0 if reused else check.expected_seconds
        if check.name == "unit-tests" and not reused:
            tests, expected = plan_tests(check, ctx)
        seconds[check.name] = expected
        planned.append(PlannedCheck(check.name, why.get(check.name, ""), round(expected, 1), reused))
    chosen = {c.name for c in selected}
    return Plan(
        scope=scope,
        changed_files=sorted(ctx.changed_files) if ctx.changed_files is not None else None,
        checks=planned,
        not_selected=[c.name for c in every if c.name not in chosen],
        tests=tests,
        jobs=jobs,
        expected_seconds=round(simulate(selected, seconds, jobs, keep_going=keep_going), 1),
    )


def render_plan(plan: Plan, out: TextIO) -> None:
    if plan.changed_files is not None:
        out.write(f"changed files ({len(plan.changed_files)}):\n")
        for path in plan.changed_files:
            out.write(f"  {path}\n")
    out.write(
        f"\nchecks that would run ({len(plan.checks)} of {len(plan.checks) + len(plan.not_selected)}, {plan.scope}):\n"
    )
    rows = [
        (check.name, "reused (stored pass)" if check.reused else f"~{check.expected_seconds:.0f}s", check.why)
        for check in plan.checks
    ]
    print_table(("check", "expected", "why"), rows, right=("expected",), file=out)  # cicd's one table style
    if plan.not_selected:
        out.write(f"\nnot selected: {', '.join(plan.not_selected)}\n")
    if plan.tests is not None:
        out.write(
            f"\nunit tests ({plan.tests.scope}): {len(plan.tests.run)} module(s) would run, "
            f"{len(plan.tests.reused)} reuse their stored pass\n"
        )
        for module in plan.tests.run:
            out.write(f"  run    {module}\n")
    out.write(f"\nexpected: ~{plan.expected_seconds:.0f}s with {plan.jobs} check(s) at a time; nothing was run\n")
