"""Select checks, run independent ones in parallel, respect dependencies, time everything."""

from __future__ import annotations

import subprocess
import time
import traceback
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

from cicd.gate.imports import untracked_files
from cicd.gate.model import Check, CheckResult, GateContext, Status, ToolError
from cicd.gate.reuse import ResultCache

Listener = Callable[[str, CheckResult | None], None]  # (check name, None on start | result on end)


class GateSetupError(Exception):
    """The gate itself is misconfigured (unknown check, dependency cycle, bad git ref)."""


def changed_files(root: Path, base_ref: str) -> frozenset[str]:
    """Files changed since the merge base with base_ref, including uncommitted and untracked ones."""

    def git(*args: str) -> list[str]:
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise GateSetupError(f"git {' '.join(args)} failed: {proc.stderr.strip()} (is {base_ref!r} a valid ref?)")
        return [line for line in proc.stdout.splitlines() if line]

    merge_base = git("merge-base", base_ref, "HEAD")[0]
    files = set(git("diff", "--name-only", merge_base))
    files |= set(untracked_files(root) or ())
    return frozenset(files)


def select_checks(checks: Sequence[Check], ctx: GateContext, only: Sequence[str] = ()) -> list[Check]:
    """The checks to run: those selected by --only / --changed-since, plus everything they need."""
    by_name = {check.name: check for check in checks}
    unknown = [name for name in only if name not in by_name]
    if unknown:
        raise GateSetupError(f"unknown check(s): {', '.join(unknown)} (known: {', '.join(sorted(by_name))})")
    wanted = [by_name[name] for name in only] if only else [c for c in checks if c.selected(ctx)]
    chosen: dict[str, Check] = {}

    def add(check: Check, trail: tuple[str, ...]) -> None:
        if check.name in trail:
            raise GateSetupError(f"dependency cycle between checks: {' -> '.join((*trail, check.name))}")
        for need in check.needs:
            if need not in by_name:
                raise GateSetupError(f"check {check.name!r} needs unknown check {need!r}")
            add(by_name[need], (*trail, check.name))
        chosen[check.name] = check

    for check in wanted:
        add(check, ())
    return [check for check in checks if check.name in chosen]


def _run_one(check: Check, ctx: GateContext) -> CheckResult:
    started = time.perf_counter()
    try:
        findings = check.run(ctx)
    except ToolError as exc:
        return CheckResult(check.name, Status.ERROR, time.perf_counter() - started, summary=str(exc))
    except Exception as exc:  # a bug in the check must surface as an error, never as a pass
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        summary = f"the check crashed: {detail}\n{traceback.format_exc(limit=-3)}"
        return CheckResult(check.name, Status.ERROR, time.perf_counter() - started, summary=summary)
    result = CheckResult(check.name, Status.PASSED, time.perf_counter() - started, findings=list(findings))
    if result.errors:
        result.status = Status.FAILED
        result.summary = f"{len(result.errors)} problem(s)"
    else:
        warnings = len(result.findings)
        note = check.summary_note or "ok"
        result.summary = f"{note} ({warnings} warning(s))" if warnings else note
    return result


def waits_for(check: Check, present: Collection[str], *, keep_going: bool = False) -> tuple[str, ...]:
    """The checks of this run that must finish before `check` starts: its needs and, failing fast, its `after`."""
    gates = () if keep_going else tuple(name for name in check.after if name in present and name not in check.needs)
    return (*check.needs, *gates)


def critical_path(checks: Sequence[Check], *, keep_going: bool = False) -> dict[str, float]:
    """Each check's expected time plus the longest chain of checks that wait for it."""
    dependents: dict[str, list[Check]] = {c.name: [] for c in checks}
    for check in checks:
        for need in waits_for(check, dependents, keep_going=keep_going):
            if need in dependents:
                dependents[need].append(check)
    memo: dict[str, float] = {}

    def length(check: Check) -> float:
        if check.name not in memo:
            memo[check.name] = check.expected_seconds + max((length(d) for d in dependents[check.name]), default=0.0)
        return memo[check.name]

    return {check.name: length(check) for check in checks}


def skip_reason(blockers: Sequence[str], results: Mapping[str, CheckResult]) -> str:
    """ "skipped: dag-integrity failed"; for a skipped need, why it was skipped ("... (release-build failed)")."""
    parts = []
    for name in blockers:
        result = results[name]
        if result.status is Status.SKIPPED:
            parts.append(f"{name} was skipped ({result.summary.removeprefix('skipped: ')})")
        else:
            parts.append(f"{name} failed")
    return "skipped: " + ", ".join(parts)


def run_checks(
    checks: Sequence[Check],
    ctx: GateContext,
    *,
    jobs: int,
    listener: Listener | None = None,
    cache: ResultCache | None = None,
    keep_going: bool = False,
) -> list[CheckResult]:
    """Run checks as their dependencies allow, at most `jobs` at a time, longest chain first.

    Failing fast (the default), a check also waits for the cheap checks named in its `after`, and is skipped
    when one of them or of its needs did not pass. With keep_going, `after` is ignored and a check runs even
    when a need failed (its tool ran and wrote its output: a synth with cdk-nag errors still writes the
    templates); only a need that errored or was skipped, leaving nothing to read, skips it.
    With a cache, a check whose key matches a stored pass is reused instead of run (decided once its
    needs are done, since some keys cover what they wrote). Results come back in the given check order.
    """
    notify = listener or (lambda name, result: None)
    results: dict[str, CheckResult] = {}
    present = {check.name for check in checks}
    priority = critical_path(checks, keep_going=keep_going)
    pending = {check.name: check for check in sorted(checks, key=lambda c: -priority[c.name])}
    by_name = dict(pending)
    missed: set[str] = set()  # looked up once and not stored: do not ask the store again
    running: dict[Future[CheckResult], str] = {}

    def finish(name: str, result: CheckResult) -> None:
        del pending[name]
        results[name] = result
        notify(name, result)

    def schedule(pool: ThreadPoolExecutor) -> bool:
        """Start, skip or reuse what is ready; True when anything moved (which may unblock more)."""
        moved = False
        for name, check in list(pending.items()):
            waits = waits_for(check, present, keep_going=keep_going)
            if any(results.get(need) is None for need in waits):
                continue
            unusable = (Status.ERROR, Status.SKIPPED) if keep_going else (Status.FAILED, Status.ERROR, Status.SKIPPED)
            blockers = [n for n in waits if results[n].status in unusable]
            if blockers:
                finish(name, CheckResult(name, Status.SKIPPED, summary=skip_reason(blockers, results)))
            elif cache and name not in missed and (stored := cache.reuse(check)) is not None:
                finish(name, stored)
            elif len(running) < max(1, jobs):
                missed.add(name)
                del pending[name]
                notify(name, None)
                if cache:
                    cache.before_run(check)
                running[pool.submit(_run_one, check, ctx)] = name
            else:
                missed.add(name)
                continue
            moved = True
        return moved

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        while pending or running:
            while schedule(pool):
                pass
            if not running:
                if pending:  # only possible if a dependency was never scheduled
                    raise GateSetupError(f"checks could not be scheduled: {', '.join(pending)}")
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                name = running.pop(future)
                results[name] = future.result()
                if cache:
                    cache.record(by_name[name], results[name])
                notify(name, results[name])
    return [results[check.name] for check in checks]


def gate_passed(results: Sequence[CheckResult]) -> bool:
    return bool(results) and all(result.status is Status.PASSED for result in results)
