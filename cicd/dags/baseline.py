"""The task-id baseline (dag_id -> task ids of every DAG as last accepted) and acknowledged removals.

Airflow 2 marks the task instances of a task that disappeared from its DAG as REMOVED, in running
and past runs alike, so removing or renaming a task must be deliberate: give the DAG a new dag_id,
or acknowledge the removal in acknowledged_removals.yaml. The check compares the DAGs against the
baseline as committed at the base of the change, so updating the baseline in the same change does
not hide a removal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from platform_vocabulary import yaml_source
from platform_vocabulary.git import git

BASELINE_PATH = "cicd/dags/baseline.json"
ACKNOWLEDGEMENTS_PATH = "cicd/dags/acknowledged_removals.yaml"

Baseline = dict[str, tuple[str, ...]]


class BaselineError(Exception):
    def __init__(self, file: str, message: str, line: int | None = None):
        self.file, self.line = file, line
        super().__init__(message)


class Acknowledgement(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    dag_id: str = Field(min_length=1)
    task_id: str = Field(min_length=1)
    reason: str = Field(min_length=10, description="why losing the task's history is acceptable")
    acknowledged_by: str = Field(min_length=1)


def from_facts(facts: dict[str, Any]) -> Baseline:
    return {dag["dag_id"]: tuple(sorted(t["task_id"] for t in dag["tasks"])) for dag in facts["dags"]}


def parse(text: str, file: str) -> Baseline:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(file, f"not valid JSON: {exc.msg}", exc.lineno) from exc
    dags = data.get("dags") if isinstance(data, dict) else None
    if not isinstance(dags, dict) or not all(isinstance(v, list) for v in dags.values()):
        raise BaselineError(file, 'expected {"dags": {"<dag_id>": ["<task_id>", ...]}}')
    return {dag_id: tuple(sorted(tasks)) for dag_id, tasks in dags.items()}


def render(baseline: Baseline) -> str:
    payload = {
        "about": "dag_id -> task ids as last accepted; update with `cicd dags baseline`",
        "dags": {dag_id: list(tasks) for dag_id, tasks in sorted(baseline.items())},
    }
    return json.dumps(payload, indent=2) + "\n"


def read(path: Path) -> Baseline | None:
    return parse(path.read_text(), str(path)) if path.exists() else None


def write(path: Path, baseline: Baseline) -> None:
    path.write_text(render(baseline))


def at_ref(root: Path, ref: str) -> Baseline:
    """The baseline as committed at the merge base of ref and HEAD; empty when it did not exist there."""
    merge_base = git(root, "merge-base", ref, "HEAD")
    commit = merge_base.text.strip() if merge_base.ok else ref
    shown = git(root, "show", f"{commit}:{BASELINE_PATH}")
    if not shown.ok:
        if "does not exist" in shown.stderr or "exists on disk, but not in" in shown.stderr:
            return {}
        raise BaselineError(BASELINE_PATH, f"cannot read the baseline at {ref}: {shown.stderr.strip()}")
    return parse(shown.text, f"{ref}:{BASELINE_PATH}")


def read_acknowledgements(path: Path) -> list[Acknowledgement]:
    if not path.exists():
        return []
    try:
        data = yaml_source.load(path).data or []
    except yaml_source.YamlSourceError as exc:
        raise BaselineError(exc.file, exc.message, exc.line) from exc
    if not isinstance(data, list):
        raise BaselineError(str(path), "expected a list of {dag_id, task_id, reason, acknowledged_by}")
    acknowledgements = []
    for index, item in enumerate(data):
        try:
            acknowledgements.append(Acknowledgement.model_validate(item))
        except ValidationError as exc:
            problem = exc.errors()[0]
            field = ".".join(str(p) for p in problem["loc"]) or "-"
            raise BaselineError(str(path), f"entry {index + 1}: {field}: {problem['msg']}") from exc
    return acknowledgements
