"""The DAG integrity rules: facts from the probe in, findings out. Pure Python, no Airflow.

Every finding names the file (the spec when a DAG is built from one, since that is where the fix
goes), the DAG when there is one, the rule and a one-line fix.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cicd.dags.baseline import ACKNOWLEDGEMENTS_PATH, BASELINE_PATH, Acknowledgement, Baseline
from cicd.dags.policy import DagPolicy
from platform_vocabulary.findings import Finding

RULE_PREFIX = "dag"

FIXES: dict[str, str] = {
    "syntax-error": "fix the syntax at the line shown (`python -m py_compile <file>` shows it too)",
    "import-error": "make the file import with only the DAG folder and MWAA's requirements "
    "(pipeline_assets/mwaa/requirements.txt); helpers belong in dags/platform_dags/",
    "module-not-shipped": "MWAA gets only the release's DAG folder and its requirements: ship the package with the "
    "DAGs (RUNTIME_PACKAGES in cicd/release/parts/dags.py), move what the DAG needs into dags/platform_dags/, "
    "or import it inside the task that uses it",
    "module-not-on-mwaa": "MWAA's workers install only pipeline_assets/mwaa/requirements.txt and its lock: add the "
    "package there and to wheelhouse.in, run `make mwaa-lock` (docs/packages.md), or import it inside the task "
    "that needs it, where the task's own environment has it",
    "dag-cycle": "remove the dependency that closes the loop: a DAG's tasks must form no cycle",
    "duplicate-dag-id": "give every DAG its own dag_id; a copied DAG needs a new one",
    "parse-timeout": "remove the slow work from the module top level (it runs on every scheduler parse)",
    "invalid-spec": (
        "correct the field in the spec; allowed values: the message and platform_vocabulary/pipeline_spec.py"
    ),
    "network-at-parse": "move the call into a task: DAG files must not touch the network when they are parsed",
    "variable-at-parse": "read the Variable inside a task or a template ({{ var.value.<key> }}), not at import",
    "connection-at-parse": "create hooks and look up connections inside a task, not at import",
    "platform-config-at-parse": "template it (\"{{ conf.get('platform', '<key>') }}\") or read it inside the task",
    "naive-start-date": "use a timezone-aware start date: pendulum.datetime(2025, 1, 1, tz='UTC')",
    "missing-start-date": "set start_date=pendulum.datetime(<y>, <m>, <d>, tz='UTC') on the DAG",
    "missing-owner": "set default_args={'owner': '<team>'} with a team from cicd/dags/policy.yaml",
    "owner-not-allowed": "use an owning team listed in cicd/dags/policy.yaml (or add the team there)",
    "missing-tags": "tag the DAG with its domain and shape from the allow-list in cicd/dags/policy.yaml",
    "tag-not-allowed": "use tags from the allow-list in cicd/dags/policy.yaml (or add the tag there, with a reason)",
    "retries-too-low": "set default_args={'retries': 2} or more; transient failures must retry, not page",
    "catchup-enabled": "set catchup=False; backfills are run deliberately (`airflow dags backfill`)",
    "missing-dagrun-timeout": "set dagrun_timeout=timedelta(...) so a stuck run fails instead of blocking the next",
    "missing-task-timeout": "set default_args={'execution_timeout': timedelta(...)} so a hung task fails",
    "max-active-runs": "set max_active_runs to the policy's maximum or less",
    "missing-schedule": "give the DAG a periodic schedule (cron, preset, timedelta or datasets)",
    "missing-doc": "set doc_md=__doc__ and say what the DAG does and who to call",
    "parse-time-budget": "move heavy imports and work out of the module top level into tasks",
    "literal-environment-value": "template it from the run-time configuration: "
    "\"s3://{{ conf.get('platform', 'raw_bucket') }}/...\"",
    "not-a-dag-file": "Airflow skips this file (it names neither 'airflow' nor 'dag'): move helpers to "
    "dags/platform_dags/ (ignored by .airflowignore) or import airflow in the DAG file",
    "no-dag-in-file": "define a DAG at module level (or move the module to dags/platform_dags/)",
    "spec-without-dag-file": "run `cicd dags new <pipeline id>` to add the pipeline's DAG file",
    "unknown-dbt-selector": "add the selector to dbt_project/selectors.yml or correct dbt.selector in the spec",
    "unknown-spark-job": "correct spark.job in the spec, or add the job to platform_vocabulary/spark_jobs.py (JOBS)",
    "task-removed": "keep the task, give the DAG a new dag_id, or acknowledge the removal in " + ACKNOWLEDGEMENTS_PATH,
    "baseline-outdated": f"run `cicd dags baseline` and commit {BASELINE_PATH}",
    "invalid-baseline": f"regenerate it with `cicd dags baseline`, or fix {ACKNOWLEDGEMENTS_PATH}",
    "wap-without-pool": "run the task in the write-audit-publish pool: pool=platform_dags.dbt.WAP_POOL "
    "(the factory's transform tasks do); publishes that overlap lose one another's data",
    "parse-warning": "fix the deprecation or warning at the line shown before it becomes an error",
}
WARNING_RULES = frozenset({"missing-doc", "parse-warning"})
PARSE_ACCESS_RULES = frozenset(
    {"network-at-parse", "variable-at-parse", "connection-at-parse", "platform-config-at-parse"}
)


@dataclass
class Inputs:
    """Everything the rules compare the facts with, besides the policy."""

    root: Path
    policy: DagPolicy
    base_baseline: Baseline | None = None  # None: no task-removal check (e.g. the benchmark)
    current_baseline: Baseline | None = None  # the working baseline file; None: not checked for staleness
    acknowledgements: list[Acknowledgement] = field(default_factory=list)
    dbt_selectors: frozenset[str] | None = None  # None: dbt_project/selectors.yml not found
    spark_jobs: dict[str, str] | None = None  # job id -> batch|streaming; None: pipeline_assets/spark not found


class _Report:
    def __init__(self, root: Path):
        self.root = root.resolve()
        self.findings: list[Finding] = []

    def rel(self, path: str | None) -> str | None:
        if path is None:
            return None
        try:
            return Path(path).resolve().relative_to(self.root).as_posix()
        except ValueError:
            return path

    def add(self, rule: str, message: str, file: str | None, line: int | None = None, fix: str | None = None) -> None:
        self.findings.append(
            Finding(
                rule=f"{RULE_PREFIX}:{rule}",
                message=message,
                file=self.rel(file),
                line=line,
                fix=fix or FIXES[rule],
                severity="warning" if rule in WARNING_RULES else "error",
            )
        )


def _dag_locations(facts: dict[str, Any]) -> dict[str, tuple[str, int | None]]:
    """Where to send people for a DAG: its spec when the factory built it, else the line naming its id."""
    where: dict[str, tuple[str, int | None]] = {}
    for spec in facts["specs"]:
        for dag_id in spec.get("dag_ids", ()):
            where[dag_id] = (spec["path"], None)
    for dag in facts["dags"]:
        if dag["dag_id"] in where:
            continue
        line = None
        try:
            for number, text in enumerate(Path(dag["fileloc"]).read_text().splitlines(), start=1):
                if f'"{dag["dag_id"]}"' in text or f"'{dag['dag_id']}'" in text:
                    line = number
                    break
        except OSError:
            pass
        where[dag["dag_id"]] = (dag["fileloc"], line)
    return where


def evaluate(facts: dict[str, Any], inputs: Inputs) -> list[Finding]:
    report = _Report(inputs.root)
    _file_rules(facts, inputs, report)
    where = _dag_locations(facts)
    for dag in facts["dags"]:
        _dag_rules(dag, inputs.policy, report, where[dag["dag_id"]])
    _spec_rules(facts, inputs, report)
    if inputs.base_baseline is not None:
        _removed_tasks(facts, inputs, report, where)
    if inputs.current_baseline is not None:
        _stale_baseline(facts, inputs.current_baseline, report)
    return report.findings


def _file_rules(facts: dict[str, Any], inputs: Inputs, report: _Report) -> None:
    attempted: dict[str, set[str]] = defaultdict(set)
    for attempt in facts["attempts"]:
        if attempt["kind"] == "naive-datetime":
            report.add(
                "naive-start-date",
                f"{attempt['detail']} reaches a DAG or task; Airflow would silently read it in its default timezone",
                attempt["file"],
                attempt["line"],
            )
            continue
        attempted[attempt["file"]].add(attempt["kind"])
        report.add(attempt["kind"], f"{attempt['detail']} at parse time", attempt["file"], attempt["line"])
    spec_files_with_problems = {Path(s["path"]).stem for s in facts["specs"] if s["problems"]}
    budget = inputs.policy.parse_budget_seconds
    missing = _missing_imports(facts, inputs.root)
    for (rule, module, origin, line), broken in sorted(missing.items(), key=lambda item: (item[0][2], item[0][3] or 0)):
        names = ", ".join(sorted(report.rel(path) or path for path in broken))
        where = (
            "is in the repository but not in the release's DAG folder"
            if rule == "module-not-shipped"
            else "is installed for the gate but not on MWAA's workers (not in pipeline_assets/mwaa/wheelhouse.lock)"
        )
        report.add(
            rule,
            f"imports {module}, which {where}, so it does not exist on MWAA (ModuleNotFoundError); "
            f"{len(broken)} DAG file(s) fail through it: {names}",
            origin,
            line,
        )
    failing_through = {path for broken in missing.values() for path in broken}
    for entry in facts["files"]:
        error = entry["error"]
        if error is not None:
            kind = error["kind"]
            if entry["path"] in failing_through:
                pass  # reported once, at the line that imports the unshipped module
            elif kind in PARSE_ACCESS_RULES and kind in attempted[entry["path"]]:
                pass  # reported with its line from the attempt
            elif kind == "invalid-spec" and Path(entry["path"]).stem in spec_files_with_problems:
                pass  # reported on the spec itself, field by field
            else:
                report.add(kind, f"{error['exception']}: {_first_line(error['message'])}", entry["path"], error["line"])
        elif not entry["dag_ids"]:
            report.add("no-dag-in-file", "the file imports without error but defines no DAG", entry["path"])
        busy = entry.get("busy_seconds", entry["seconds"])  # wall time less the time spent waiting for a CPU
        if busy > budget and not (error and error["kind"] == "parse-timeout"):
            waited = f"; {entry['seconds']:.2f} s wall on a busy machine" if entry["seconds"] > busy + 0.05 else ""
            report.add(
                "parse-time-budget",
                f"parsing took {busy:.2f} s{waited} (budget {budget:.2f} s per file, cicd/dags/policy.yaml)",
                entry["path"],
            )
        for warning in entry["warnings"]:
            report.add("parse-warning", warning, entry["path"])
    for path in facts["skipped_files"]:
        report.add("not-a-dag-file", "Airflow's DAG discovery skips this file, so any DAG in it never appears", path)


# How the probe reports a spec it could not load because the spec loader itself failed to import.
_LOADER_MISSING = re.compile(r"^cannot import platform_dags\.spec: No module named '(?P<module>[\w.]+)'")


def _in_repository(module: str, root: Path) -> bool:
    """Whether the module is first-party code of the repository (a file or package under root)."""
    base = root.joinpath(*module.split("."))
    return base.with_suffix(".py").is_file() or base.is_dir()


def _missing_imports(facts: dict[str, Any], root: Path) -> dict[tuple[str, str, str, int | None], list[str]]:
    """(rule, missing module, file and line importing it) -> the DAG files that fail because MWAA lacks it.

    module-not-shipped: repository code the release leaves out; module-not-on-mwaa: a package installed for
    the gate that MWAA's workers do not have (the probe refused it, cicd/dags/mwaa_environment.py).
    """
    refused = set(facts.get("not_on_mwaa", ()))
    found: dict[tuple[str, str, str, int | None], list[str]] = defaultdict(list)
    for entry in facts["files"]:
        error = entry["error"] or {}
        module = error.get("missing_module")
        if not module:
            continue
        if _in_repository(module, root):
            rule = "module-not-shipped"
        elif module.partition(".")[0] in refused:
            rule = "module-not-on-mwaa"
        else:
            continue  # installed nowhere: an import error of the file itself
        origin = error.get("origin_file") or entry["path"]
        line = error.get("origin_line") if error.get("origin_file") else error.get("line")
        found[(rule, module, origin, line)].append(entry["path"])
    return found


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else "(no message)"


def _dag_rules(dag: dict[str, Any], policy: DagPolicy, report: _Report, location: tuple[str, int | None]) -> None:
    file, line = location
    dag_id = dag["dag_id"]

    def add(rule: str, message: str) -> None:
        report.add(rule, f"DAG {dag_id}: {message}", file, line)

    owners = {task["owner"] for task in dag["tasks"]} or {dag["owner"]}
    unowned = sorted(task["task_id"] for task in dag["tasks"] if not task["owner"] or task["owner"] == "airflow")
    if unowned:
        add("missing-owner", f"tasks {', '.join(unowned)} have no owner (Airflow's default 'airflow' is no one)")
    strangers = sorted(o for o in owners if o and o != "airflow" and o not in policy.owners)
    if strangers:
        add(
            "owner-not-allowed",
            f"owner {', '.join(strangers)} is not a team in the policy ({', '.join(policy.owners)})",
        )
    if not dag["tags"]:
        add("missing-tags", "has no tags")
    unknown_tags = sorted(set(dag["tags"]) - set(policy.tags))
    if unknown_tags:
        add("tag-not-allowed", f"tags {', '.join(unknown_tags)} are not in the allow-list")
    low = sorted(task["task_id"] for task in dag["tasks"] if task["retries"] < policy.min_retries)
    if low:
        add("retries-too-low", f"tasks {', '.join(low)} retry fewer than {policy.min_retries} times")
    if dag["catchup"]:
        add("catchup-enabled", "catchup=True would schedule every missed interval since start_date at once")
    if dag["dagrun_timeout_s"] is None:
        add("missing-dagrun-timeout", "has no dagrun_timeout")
    untimed = sorted(task["task_id"] for task in dag["tasks"] if task["execution_timeout_s"] is None)
    if untimed:
        add("missing-task-timeout", f"tasks {', '.join(untimed)} have no execution_timeout")
    if dag["max_active_runs"] > policy.max_active_runs:
        add(
            "max-active-runs", f"max_active_runs is {dag['max_active_runs']} (policy: at most {policy.max_active_runs})"
        )
    if dag["start_date"] is None:
        add("missing-start-date", "has no start_date")
    if not dag["has_schedule"]:
        add("missing-schedule", f"schedule is {dag['schedule']!r}; a pipeline DAG runs periodically")
    if not dag["has_doc"]:
        add("missing-doc", "has no doc_md")
    unpooled = sorted(t["task_id"] for t in dag["tasks"] if t.get("runs_wap") and t.get("pool") != policy.wap_pool)
    if unpooled:
        add("wap-without-pool", f"write-audit-publish tasks {', '.join(unpooled)} are not in pool {policy.wap_pool}")
    for task in dag["tasks"]:
        for literal in task["literals"]:
            add("literal-environment-value", f"task {task['task_id']} hard-codes {literal!r}; environments differ")


def _spec_rules(facts: dict[str, Any], inputs: Inputs, report: _Report) -> None:
    for spec in facts["specs"]:
        for problem in spec["problems"]:
            loader = _LOADER_MISSING.match(problem["message"])
            if loader and (
                _in_repository(loader.group("module"), inputs.root)
                or loader.group("module").partition(".")[0] in facts.get("not_on_mwaa", ())
            ):
                continue  # not the spec's fault: reported once as module-not-shipped/-on-mwaa, where the import is
            # dag:spec-<rule>, e.g. dag:spec-unknown-field; the message names the field, the fix says what to do.
            field = problem.get("field") or ""
            message = f"{field}: {problem['message']}" if field else problem["message"]
            rule = f"spec-{problem.get('rule') or 'invalid-value'}"
            report.add(rule, message, spec["path"], problem["line"], fix=problem.get("fix") or FIXES["invalid-spec"])
        if spec["problems"]:
            continue
        if not Path(spec["dag_file"]).exists():
            report.add(
                "spec-without-dag-file",
                f"pipeline {spec['pipeline_id']} has no DAG file {Path(spec['dag_file']).name}; it would never run",
                spec["path"],
                fix=f"run `cicd dags new {spec['pipeline_id']}` to add the pipeline's DAG file",
            )
        job, kind = spec.get("spark_job"), spec.get("spark_kind")
        if job and inputs.spark_jobs is not None:
            if job not in inputs.spark_jobs:
                message = f"spark.job {job!r} is not a Spark job the release ships (platform_vocabulary/spark_jobs.py)"
                report.add("unknown-spark-job", message, spec["path"])
            elif inputs.spark_jobs[job] != kind:
                message = f"spark.job {job!r} is a {inputs.spark_jobs[job]} job but this source needs a {kind} job"
                report.add("unknown-spark-job", message, spec["path"])
        selector = spec.get("dbt_selector")
        if selector and inputs.dbt_selectors is not None and selector not in inputs.dbt_selectors:
            report.add(
                "unknown-dbt-selector",
                f"dbt.selector {selector!r} is not defined in dbt_project/selectors.yml",
                spec["path"],
            )


def _removed_tasks(
    facts: dict[str, Any], inputs: Inputs, report: _Report, where: dict[str, tuple[str, int | None]]
) -> None:
    assert inputs.base_baseline is not None
    acknowledged = {(a.dag_id, a.task_id) for a in inputs.acknowledgements}
    current = {dag["dag_id"]: {t["task_id"] for t in dag["tasks"]} for dag in facts["dags"]}
    for dag_id, tasks in sorted(inputs.base_baseline.items()):
        if dag_id not in current:
            continue  # a DAG that is gone or fails to import is reported by other rules; a new dag_id is the fix
        for task_id in sorted(set(tasks) - current[dag_id]):
            if (dag_id, task_id) in acknowledged:
                continue
            file, line = where[dag_id]
            report.add(
                "task-removed",
                f"DAG {dag_id}: task {task_id} was removed or renamed; Airflow 2 marks its running and past task "
                "instances REMOVED",
                file,
                line,
            )


def _stale_baseline(facts: dict[str, Any], baseline: Baseline, report: _Report) -> None:
    current = {dag["dag_id"]: tuple(sorted(t["task_id"] for t in dag["tasks"])) for dag in facts["dags"]}
    if any(entry["error"] for entry in facts["files"]):
        return  # a DAG that does not import would look removed; fix the import first
    changed = sorted(dag_id for dag_id in set(current) | set(baseline) if current.get(dag_id) != baseline.get(dag_id))
    if changed:
        report.add(
            "baseline-outdated",
            f"the task baseline does not match the DAGs for {_preview(changed)}",
            str(report.root / BASELINE_PATH),
        )


def _preview(items: Iterable[str], limit: int = 5) -> str:
    items = list(items)
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")
