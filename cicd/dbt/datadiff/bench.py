"""Mutation benchmark of the data diff: `cicd dbt diff-bench` (make bench-data-diff).

For every one-line change in mutations.py, applied to a copy of the committed project:

- the data diff against the unchanged project (same synthetic data): which models it selects, which really
  change, whether it would fail the gate, and its seconds;
- what the existing gate catches: the dbt-build check (the change's models built with their contracts, then
  their data and unit tests: the same nodes a full `dbt build` would fail on, since nothing else differs), the
  dbt-schema-compat check (the mutated manifest against the committed baseline) and the sql-lint check
  (sqlfluff with the project's .sqlfluff, new violations in the mutated file).

The unchanged project is built once (cached by its tree, like `cicd dbt diff`); each mutation rebuilds only what
it selects. Prints one table row per mutation and a summary; --json writes the rows. Times depend on the load of
the machine: the summary prints the load average next to them.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cicd.dbt import compat
from cicd.dbt.build import DEFAULT_SCALE, DEFAULT_SEED
from cicd.dbt.datadiff.mutations import MUTATIONS, Mutation
from cicd.dbt.datadiff.run import WORK, BuiltSide, DiffError, DiffRun, cached_reference, diff_working_tree, git
from cicd.dbt.datadiff.verdict import ACKNOWLEDGEMENTS, decide

FAILED_STATUSES = ("error", "fail", "runtime error")


@dataclass
class Row:
    id: str
    category: str
    path: str
    gate: list[str] = field(default_factory=list)  # which existing checks catch it, with what
    selected: int = 0
    changed: int = 0
    changed_models: list[str] = field(default_factory=list)
    diff_fails: list[str] = field(default_factory=list)  # contracted models the diff fails the gate on
    not_built: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""

    @property
    def caught(self) -> bool:
        return bool(self.gate)

    @property
    def shown(self) -> bool:
        return self.changed > 0


class Linter:
    """sqlfluff in-process with the repository's .sqlfluff, as the sql-lint check configures it."""

    def __init__(self, root: Path) -> None:
        from sqlfluff.core import FluffConfig
        from sqlfluff.core import Linter as SqlfluffLinter

        previous = Path.cwd()
        os.chdir(root)  # the config's relative paths (macros, lint library) are read from the repository root
        try:
            self.linter = SqlfluffLinter(config=FluffConfig.from_root())
        finally:
            os.chdir(previous)
        self.root = root

    def violations(self, sql: str, fname: str) -> list[str]:
        previous = Path.cwd()
        os.chdir(self.root)
        try:
            result = self.linter.lint_string(sql, fname=fname)
        finally:
            os.chdir(previous)
        return [f"{v.rule_code()} {v.desc()}" for v in result.get_violations()]


def _gate_findings(run: DiffRun, manifest: Path | None, project: Path, root: Path) -> list[str]:
    found = []
    broken = sorted({r["unique_id"].split(".")[-1] for r in run.built if r["status"] in FAILED_STATUSES})
    if broken:
        found.append("dbt-build: model error " + ", ".join(broken))
    failing = [r for r in run.tests if r["status"] in FAILED_STATUSES]
    if failing:
        names = sorted({r["unique_id"].split(".")[2] for r in failing})
        found.append(f"dbt-build: {len(failing)} test(s) fail ({', '.join(names[:3])}{'…' if len(names) > 3 else ''})")
    if manifest is not None:
        report = compat.check(
            compat.load_manifest(root / compat.COMMITTED_BASELINE),
            compat.load_manifest(manifest),
            project / "schema_changes.yml",
        )
        errors = sorted({f.rule for f in report.findings if f.severity == "error"})
        if errors:
            found.append("dbt-schema-compat: " + ", ".join(errors))
    return found


def run_one(
    mutation: Mutation, reference: BuiltSide, root: Path, linter: Linter | None, *, scale: int, seed: int
) -> Row:
    row = Row(mutation.id, mutation.category, mutation.path)
    work = root / WORK / "bench" / "head"
    project = work / "src" / "dbt_project"
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(reference.project_dir, project)
    mutation.apply(project)
    if linter is not None and mutation.path.endswith(".sql"):
        fname = f"dbt_project/{mutation.path}"
        before = linter.violations((reference.project_dir / mutation.path).read_text(), fname)
        after = linter.violations((project / mutation.path).read_text(), fname)
        if len(after) > len(before):
            row.gate.append("sql-lint: " + "; ".join(sorted(set(after) - set(before)))[:120])
    started = time.perf_counter()
    try:
        run = diff_working_tree(
            root, "unchanged project", reference=reference, project_dir=project, work=work, test=True,
            scale=scale, seed=seed,
        )  # fmt: skip
    except DiffError as exc:
        row.error = str(exc).splitlines()[0][:200]
        row.gate.append("dbt-build: does not parse")
        row.seconds = time.perf_counter() - started
        return row
    row.seconds = time.perf_counter() - started - run.timings.get("dbt_test", 0.0)
    row.selected = len(run.models)
    row.changed_models = [m.name for m in run.changed]
    row.changed = len(row.changed_models)
    row.not_built = [m.name for m in run.models if m.state == "failed"]
    verdict = decide(run.models, project / ACKNOWLEDGEMENTS.relative_to("dbt_project"))
    row.diff_fails = sorted(m.name for m in run.models if m.unique_id in verdict.failing)
    row.gate += _gate_findings(run, run.partial_manifest, project, root)
    return row


def table(rows: list[Row]) -> str:
    header = f"{'mutation':38} {'kind':16} {'existing gate':44} {'data diff':34} {'sel':>3} {'chg':>3} {'s':>6}"
    lines = [header, "-" * len(header)]
    for row in rows:
        gate = "; ".join(row.gate) or "—"
        if row.error:
            diff = "does not parse"
        elif row.changed:
            verdict = f"FAILS ({', '.join(row.diff_fails)})" if row.diff_fails else "informs"
            diff = f"{', '.join(row.changed_models)} · {verdict}"
        elif row.not_built:
            diff = f"not built: {', '.join(row.not_built)}"
        else:
            diff = "no data change"
        lines.append(
            f"{row.id:38} {row.category:16} {gate[:44]:44} {diff[:34]:34} {row.selected:>3} {row.changed:>3} "
            f"{row.seconds:>6.1f}"
        )
    return "\n".join(lines)


def summary(rows: list[Row], load: str) -> dict[str, Any]:
    sql = [r for r in rows if r.path.endswith(".sql")]
    timed = [r.seconds for r in rows if not r.error]
    return {
        "mutations": len(rows),
        "sql_mutations": len(sql),
        "existing_gate_catches": sum(r.caught for r in rows),
        "data_diff_shows": sum(r.shown for r in rows),
        "data_diff_shows_gate_misses": sum(r.shown and not r.caught for r in rows),
        "gate_catches_diff_shows_nothing": sum(r.caught and not r.shown for r in rows),
        "neither_no_data_change": sum(not r.caught and not r.shown for r in rows),
        "data_diff_fails_gate": sum(bool(r.diff_fails) for r in rows),
        "models_selected": sum(r.selected for r in rows),
        "models_really_changed": sum(r.changed for r in rows),
        "seconds_per_diff_median": round(statistics.median(timed), 1) if timed else None,
        "seconds_per_diff_mean": round(statistics.mean(timed), 1) if timed else None,
        "seconds_per_diff_max": round(max(timed), 1) if timed else None,
        "load_average": load,
    }


def main(root: Path, *, only: list[str] | None = None, limit: int | None = None, json_out: str | None = None) -> int:
    chosen = [m for m in MUTATIONS if not only or m.id in only][:limit]
    unknown = sorted(set(only or []) - {m.id for m in MUTATIONS})
    if unknown:
        print(f"unknown mutation(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    scale, seed = DEFAULT_SCALE, DEFAULT_SEED
    print(f"building the unchanged project (HEAD) once, then {len(chosen)} mutation(s) ...", file=sys.stderr)
    reference = cached_reference(root, git(root, "rev-parse", "HEAD"), scale=scale, seed=seed)
    linter = Linter(root)
    rows = []
    for index, mutation in enumerate(chosen, 1):
        row = run_one(mutation, reference, root, linter, scale=scale, seed=seed)
        rows.append(row)
        print(f"[{index}/{len(chosen)}] {row.id}: {row.changed} changed, gate {'yes' if row.caught else 'no'}, "
              f"{row.seconds:.1f} s", file=sys.stderr, flush=True)  # fmt: skip
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(table(rows))
    facts = summary(rows, load)
    print()
    for key, value in facts.items():
        print(f"{key.replace('_', ' '):34} {value}")
    if json_out:
        Path(json_out).write_text(json.dumps({"summary": facts, "rows": [asdict(r) for r in rows]}, indent=1) + "\n")
    return 0
