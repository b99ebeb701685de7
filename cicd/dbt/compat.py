"""Schema compatibility of contracted dbt models against a baseline manifest (the last release's).

dbt itself only warns when an unversioned model's contract changes, and ignores constraints Snowflake does
not enforce. This check treats the contract as the interface consumers (data services, BI, other teams)
depend on, and fails a change that breaks it:

- a contracted model deleted or disabled, or its contract no longer enforced;
- a column removed (a rename is a removal plus an addition; the message points at the likely new name);
- a column's base type changed, after normalising aliases (varchar = character varying = text = string,
  int = integer = bigint = number(38, 0), timestamp = timestamp_ntz, ...), or narrowed (shorter varchar,
  smaller precision or scale);
- a `not_null` / `unique` test or constraint on a key column removed, or a column constraint dropped;
- a materialization changed to one that cannot hold constraints (table -> view / ephemeral).

A breaking change passes when the old shape is still served by a model version (dbt model versions: keep
v1, add v2), or when dbt_project/schema_changes.yml holds a reviewed acknowledgement for exactly that change.
Additive changes (new columns, models, tests, wider types) pass. Every finding names the model, the
column, old -> new, and the downstream models and exposures affected.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from cicd.dbt import acknowledgements
from cicd.dbt.manifest import ManifestError, read_manifest
from cicd.dbt.types import DataType, normalize_type
from platform_vocabulary.findings import Finding

COMMITTED_BASELINE = Path("dbt_project/baseline/manifest.json")
# Where `cicd dbt baseline --from <last release's manifest>` leaves the fetched baseline; preferred
# over the committed one when present, since it is what production actually runs.
RELEASE_BASELINE = Path("build/dbt/baseline/manifest.json")
ACKNOWLEDGEMENTS = Path("dbt_project/schema_changes.yml")

RULES = {
    "model-removed": "a contracted model was deleted",
    "model-disabled": "a contracted model was disabled",
    "contract-removed": "a model's contract is no longer enforced",
    "column-removed": "a column was removed or renamed",
    "type-changed": "a column's base data type changed",
    "type-narrowed": "a column's data type was narrowed",
    "key-test-removed": "a not_null/unique test on a key column was removed",
    "constraint-removed": "a column constraint was removed",
    "materialization-changed": "the materialization no longer holds constraints",
}
CONSTRAINT_HOLDING = {"table", "incremental", "snapshot"}


def narrowed(old: DataType, new: DataType) -> bool:
    """Same base type, but fewer characters, digits or decimals than before."""
    if old.base != new.base or not old.params or not new.params:
        # An unbounded varchar becoming bounded is narrowing too.
        return old.base == new.base == "string" and not old.params and bool(new.params)
    if old.base == "numeric" and len(old.params) == 2 and len(new.params) == 2:
        old_int, new_int = old.params[0] - old.params[1], new.params[0] - new.params[1]
        return new_int < old_int or new.params[1] < old.params[1]
    return new.params[0] < old.params[0]


@dataclass(frozen=True)
class Column:
    name: str
    data_type: DataType | None
    constraints: frozenset[str]


@dataclass
class ModelShape:
    unique_id: str
    name: str
    version: str | None
    file: str | None
    materialized: str
    contract_enforced: bool
    enabled: bool
    columns: dict[str, Column] = field(default_factory=dict)
    key_tests: set[tuple[str, str]] = field(default_factory=set)  # (column, not_null|unique)
    deprecation_date: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name}.v{self.version}" if self.version is not None else self.name

    def key_columns(self) -> set[str]:
        keys = {column for column, test in self.key_tests if test == "unique"}
        keys |= {c.name for c in self.columns.values() if {"primary_key", "unique"} & c.constraints}
        return keys


@dataclass
class Manifest:
    path: str
    models: dict[str, ModelShape]
    child_map: dict[str, list[str]]
    names: dict[str, tuple[str, str]]  # unique_id -> (resource_type, name)


def _version(node: dict[str, Any]) -> str | None:
    version = node.get("version")
    return None if version is None else str(version)


def _constraint_types(items: Iterable[dict[str, Any]] | None) -> frozenset[str]:
    return frozenset(str(item.get("type", "")).lower() for item in items or [] if item.get("type"))


def _shape(node: dict[str, Any], enabled: bool) -> ModelShape:
    config = node.get("config") or {}
    contract = config.get("contract") or node.get("contract") or {}
    columns: dict[str, Column] = {}
    for raw_name, column in (node.get("columns") or {}).items():
        name = str(column.get("name") or raw_name).lower()
        columns[name] = Column(
            name, normalize_type(column.get("data_type")), _constraint_types(column.get("constraints"))
        )
    # Model-level constraints (e.g. a primary key over columns) count for each column they name.
    for constraint in node.get("constraints") or []:
        for column_name in constraint.get("columns") or []:
            key = str(column_name).lower()
            if key in columns:
                current = columns[key]
                columns[key] = Column(key, current.data_type, current.constraints | {str(constraint.get("type"))})
    return ModelShape(
        unique_id=node["unique_id"],
        name=node["name"],
        version=_version(node),
        # The YAML that declares the contract is where a reviewer fixes it; the SQL when there is none.
        file=(node.get("patch_path") or "").split("://", 1)[-1] or node.get("original_file_path"),
        materialized=str(config.get("materialized", "")),
        contract_enforced=bool(contract.get("enforced")),
        enabled=enabled and config.get("enabled", True) is not False,
        columns=columns,
        deprecation_date=node.get("deprecation_date"),
    )


def parse_manifest(data: dict[str, Any], path: str = "<manifest>") -> Manifest:
    models: dict[str, ModelShape] = {}
    names: dict[str, tuple[str, str]] = {}
    nodes = data.get("nodes") or {}
    for unique_id, node in nodes.items():
        names[unique_id] = (node.get("resource_type", ""), node.get("name", unique_id))
        if node.get("resource_type") == "model":
            models[unique_id] = _shape(node, enabled=True)
    for unique_id, versions in (data.get("disabled") or {}).items():
        for node in versions:
            if node.get("resource_type") == "model" and unique_id not in models:
                models[unique_id] = _shape(node, enabled=False)
    for unique_id, exposure in (data.get("exposures") or {}).items():
        names[unique_id] = ("exposure", exposure.get("name", unique_id))
    for node in nodes.values():
        if node.get("resource_type") != "test":
            continue
        test_name = (node.get("test_metadata") or {}).get("name")
        attached = node.get("attached_node") or next(iter((node.get("depends_on") or {}).get("nodes") or []), None)
        column = node.get("column_name")
        if test_name in ("not_null", "unique") and attached in models and column:
            models[attached].key_tests.add((str(column).lower(), test_name))
    return Manifest(path=path, models=models, child_map=dict(data.get("child_map") or {}), names=names)


def load_manifest(path: Path) -> Manifest:
    try:
        return parse_manifest(read_manifest(path), str(path))
    except ManifestError as exc:
        raise CompatError(str(exc)) from exc
    except (ValueError, KeyError) as exc:
        raise CompatError(f"cannot read the dbt manifest {path}: {exc}") from exc


class CompatError(Exception):
    pass


def downstream(manifest: Manifest, unique_id: str) -> tuple[list[str], list[str]]:
    """Models and exposures that read unique_id, directly or transitively."""
    seen: set[str] = set()
    stack = list(manifest.child_map.get(unique_id, []))
    while stack:
        child = stack.pop()
        if child in seen:
            continue
        seen.add(child)
        stack.extend(manifest.child_map.get(child, []))
    models = sorted(manifest.names[c][1] for c in seen if manifest.names.get(c, ("", ""))[0] == "model")
    exposures = sorted(manifest.names[c][1] for c in seen if manifest.names.get(c, ("", ""))[0] == "exposure")
    return models, exposures


@dataclass(frozen=True)
class Change:
    rule: str
    model: str  # model name (unversioned) the acknowledgement refers to
    model_label: str
    column: str | None
    old: str
    new: str
    detail: str
    file: str | None


def _compare(old: ModelShape, new: ModelShape | None) -> list[Change]:
    """Breaking changes from old to new; new is None when the model is gone."""
    changes: list[Change] = []

    def change(rule: str, column: str | None, before: str, after: str, detail: str) -> None:
        file = (new.file if new else None) or old.file
        changes.append(Change(rule, old.name, old.label, column, before, after, detail, file))

    if new is None:
        change("model-removed", None, "contracted model", "deleted", "the model no longer exists")
        return changes
    if not new.enabled:
        change("model-disabled", None, "enabled", "disabled", "the model is disabled (config enabled: false)")
        return changes
    if old.contract_enforced and not new.contract_enforced:
        change("contract-removed", None, "contract enforced", "not enforced", "the contract is no longer enforced")
    if old.materialized in CONSTRAINT_HOLDING and new.materialized not in CONSTRAINT_HOLDING:
        change(
            "materialization-changed",
            None,
            old.materialized,
            new.materialized,
            f"a {new.materialized} cannot hold the contract's constraints",
        )
    added = {name: column for name, column in new.columns.items() if name not in old.columns}
    for name, column in old.columns.items():
        current = new.columns.get(name)
        if current is None:
            same_type = [
                n
                for n, c in added.items()
                if c.data_type and column.data_type and c.data_type.base == column.data_type.base
            ]
            hint = f" (renamed to {', '.join(sorted(same_type))}?)" if same_type else ""
            change("column-removed", name, str(column.data_type or "column"), "removed", f"column removed{hint}")
            continue
        if column.data_type and current.data_type:
            if column.data_type.base != current.data_type.base:
                change("type-changed", name, str(column.data_type), str(current.data_type), "base type changed")
            elif narrowed(column.data_type, current.data_type):
                change("type-narrowed", name, str(column.data_type), str(current.data_type), "type narrowed")
        for constraint in sorted(column.constraints - current.constraints):
            change("constraint-removed", name, f"{constraint} constraint", "none", f"{constraint} constraint removed")
    for column_name in sorted(old.key_columns()):
        if column_name not in new.columns:
            continue  # already reported as a removed column
        for test in ("not_null", "unique"):
            if (column_name, test) in old.key_tests and (column_name, test) not in new.key_tests:
                change("key-test-removed", column_name, f"{test} test", "none", f"{test} test on key column removed")
    return changes


def _versions_by_name(manifest: Manifest) -> dict[str, list[ModelShape]]:
    grouped: dict[str, list[ModelShape]] = {}
    for model in manifest.models.values():
        grouped.setdefault(model.name, []).append(model)
    return grouped


def breaking_changes(baseline: Manifest, current: Manifest, *, today: date | None = None) -> list[Change]:
    """Every breaking change to a model that was contracted in the baseline."""
    today = today or date.today()
    current_by_name = _versions_by_name(current)
    changes: list[Change] = []
    for old in sorted(baseline.models.values(), key=lambda m: m.unique_id):
        if not (old.contract_enforced and old.enabled):
            continue
        same = current.models.get(old.unique_id)
        # Versioning an unversioned model keeps the old shape as a version of the same name: any version
        # that still serves the baseline's shape means existing consumers keep working.
        candidates = [same] if same is not None else []
        if old.version is None:
            candidates += [m for m in current_by_name.get(old.name, []) if m is not same]
        results = [_compare(old, candidate) for candidate in candidates]
        if any(not result for result in results):
            continue
        if same is None and old.deprecation_date and old.deprecation_date[:10] <= today.isoformat():
            continue  # a version removed after its announced deprecation date is the versioning contract working
        changes.extend(results[0] if results else _compare(old, None))
    return changes


ACK_FILE = acknowledgements.AckFile(ACKNOWLEDGEMENTS, RULES, "dbt-compat", "the baseline")
Acknowledgement = acknowledgements.Acknowledgement


def load_acknowledgements(path: Path) -> tuple[list[Acknowledgement], list[Finding]]:
    """Reviewed acknowledgements, and findings for malformed ones (which acknowledge nothing)."""
    return acknowledgements.load(path, ACK_FILE)


def _matches(ack: Acknowledgement, change: Change) -> bool:
    return ack.matches(change.model, change.rule, change.column)


@dataclass
class CompatReport:
    baseline: str
    changes: list[Change]
    acknowledged: list[Change]
    findings: list[Finding]


def check(baseline: Manifest, current: Manifest, acks_path: Path, *, today: date | None = None) -> CompatReport:
    changes = breaking_changes(baseline, current, today=today)
    acks, findings = load_acknowledgements(acks_path)
    acknowledged: list[Change] = []
    used: set[int] = set()
    for change in changes:
        matching = [i for i, ack in enumerate(acks) if _matches(ack, change)]
        if matching:
            used.update(matching)
            acknowledged.append(change)
            continue
        uid = next((m.unique_id for m in baseline.models.values() if m.label == change.model_label), "")
        models, exposures = downstream(current if uid in current.models else baseline, uid)
        impact = f"downstream models: {', '.join(models) or 'none'}; exposures: {', '.join(exposures) or 'none'}"
        where = f"{change.model_label}.{change.column}" if change.column else change.model_label
        findings.append(
            Finding(
                rule=f"dbt-compat:{change.rule}",
                message=f"{where}: {change.detail} ({change.old} -> {change.new}); {impact}",
                file=f"dbt_project/{change.file}" if change.file else None,
                fix=f"keep the old shape as a model version (versions: [v1, v2]) or add a reviewed acknowledgement "
                f"(model: {change.model}, change: {change.rule}"
                + (f", column: {change.column}" if change.column else "")
                + f") to {ACKNOWLEDGEMENTS.as_posix()}",
            )
        )
    findings.extend(acknowledgements.unused(acks, used, ACK_FILE))
    return CompatReport(baseline.path, changes, acknowledged, findings)


def resolve_baseline(root: Path, explicit: Path | None = None) -> Path | None:
    for candidate in ([explicit] if explicit else []) + [root / RELEASE_BASELINE, root / COMMITTED_BASELINE]:
        if candidate is not None and candidate.exists():
            return candidate
    return None


_NODE_KEYS = (
    "unique_id",
    "resource_type",
    "name",
    "package_name",
    "version",
    "latest_version",
    "original_file_path",
    "patch_path",
    "columns",
    "constraints",
    "test_metadata",
    "attached_node",
    "column_name",
    "deprecation_date",
    "access",
    "depends_on",
)


def _slim_node(node: dict[str, Any]) -> dict[str, Any]:
    slim = {key: node[key] for key in _NODE_KEYS if key in node}
    config = node.get("config") or {}
    slim["config"] = {key: config[key] for key in ("materialized", "contract", "enabled") if key in config}
    if "columns" in slim:
        slim["columns"] = {
            name: {k: column.get(k) for k in ("name", "data_type", "constraints") if k in column}
            for name, column in slim["columns"].items()
        }
    if slim.get("test_metadata"):
        slim["test_metadata"] = {"name": slim["test_metadata"].get("name")}
    if "depends_on" in slim:
        slim["depends_on"] = {"nodes": (slim["depends_on"] or {}).get("nodes", [])}
    return slim


def slim_manifest(data: dict[str, Any]) -> dict[str, Any]:
    """What the compatibility check reads, and nothing machine- or run-specific: a reviewable baseline."""
    nodes = {
        uid: _slim_node(node)
        for uid, node in (data.get("nodes") or {}).items()
        if node.get("resource_type") in ("model", "test")
    }
    kept = set(nodes) | set(data.get("exposures") or {})
    return {
        "metadata": {
            "dbt_schema_version": (data.get("metadata") or {}).get("dbt_schema_version"),
            "dbt_version": (data.get("metadata") or {}).get("dbt_version"),
            "project_name": (data.get("metadata") or {}).get("project_name"),
        },
        "nodes": nodes,
        "disabled": {
            uid: [_slim_node(n) for n in versions if n.get("resource_type") == "model"]
            for uid, versions in (data.get("disabled") or {}).items()
            if any(n.get("resource_type") == "model" for n in versions)
        },
        "exposures": {
            uid: {"name": e.get("name"), "depends_on": {"nodes": (e.get("depends_on") or {}).get("nodes", [])}}
            for uid, e in (data.get("exposures") or {}).items()
        },
        "child_map": {
            uid: sorted(child for child in children if child in kept and not child.startswith("test."))
            for uid, children in (data.get("child_map") or {}).items()
            if uid in kept and not uid.startswith("test.")
        },
    }


def write_baseline(manifest_path: Path, out: Path) -> Path:
    data = read_manifest(manifest_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(slim_manifest(data), indent=1, sort_keys=True) + "\n")
    return out
