"""Build the data-service bundles from the dbt manifest, and validate their contract on the way.

Every finding names the model, the column and the rule, points at the YAML that documents the
model, and says how to fix it. A service with any error gets no bundle, so the release can never
carry a data service that breaks the contract.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cicd.dataservices.declaration import DataServiceMeta
from cicd.dataservices.manifest import META_KEY, Manifest, ModelNode
from cicd.dbt.types import normalize_type
from pipeline_assets.dataservices import metadata as md
from pipeline_assets.dataservices.bundle import (
    Column,
    Dataset,
    GlossaryTerm,
    Limits,
    Relation,
    Service,
    ServiceBundle,
)
from pipeline_assets.dataservices.names import ASSISTANT_NAME, COLUMN_NAME, DATASET_NAME
from pipeline_assets.dataservices.types import ACCEPTED, AssistantType
from platform_vocabulary.findings import Finding

PII_TAGS = frozenset({"pii"})
PII_META_FLAGS = ("pii", "contains_pii", "is_pii")
PII_META_CLASSES = ("classification", "sensitivity", "data_classification")


# The CSV carries text that must parse back into something the assistant computes with: families
# outside this map (VARIANT, OBJECT, ARRAY, BINARY, GEOGRAPHY, a bare TIME) are refused, not published.
ASSISTANT_TYPES: dict[str, AssistantType] = {
    "string": "string",
    "integer": "integer",
    "numeric": "float",  # a scale above 0; NUMBER(p, 0) normalises to integer
    "float": "float",
    "boolean": "boolean",
    "date": "date",
    "timestamp_ntz": "datetime",
    "timestamp_tz": "datetime",
    "timestamp_ltz": "datetime",
}


def assistant_type(data_type: str | None) -> AssistantType | None:
    """The assistant type for a dbt contract data_type, or None when it cannot be published."""
    normalised = normalize_type(data_type)
    return ASSISTANT_TYPES.get(normalised.base) if normalised else None


def is_pii(tags: frozenset[str], meta: Any) -> str | None:
    """How a column is marked as PII in dbt (a tag or a meta flag), or None."""
    hit = sorted(PII_TAGS & tags)
    if hit:
        return f"tag {hit[0]!r}"
    for key in PII_META_FLAGS:
        value = meta.get(key)
        if value is True or (isinstance(value, str) and value.strip().lower() in {"true", "yes"}):
            return f"meta.{key}: {value}"
    for key in PII_META_CLASSES:
        value = meta.get(key)
        if isinstance(value, str) and value.strip().lower() == "pii":
            return f"meta.{key}: {value}"
    return None


def _yaml_lines(path: Path) -> tuple[str, ...]:
    try:
        return tuple(path.read_text().splitlines())
    except OSError:
        return ()


def locate(root: Path | None, file: str, model: str, column: str | None = None) -> int | None:
    """Line of `- name: <model>` (then of its `- name: <column>`) in the model's YAML, for findings."""
    if root is None:
        return None
    lines = _yaml_lines(root / file)
    line_of_model = None
    for index, line in enumerate(lines):
        if re.match(rf"^\s*-?\s*name:\s*['\"]?{re.escape(model)}['\"]?\s*$", line):
            line_of_model = index
            break
    if line_of_model is None or column is None:
        return None if line_of_model is None else line_of_model + 1
    for index in range(line_of_model + 1, len(lines)):
        if re.match(rf"^\s*-\s*name:\s*['\"]?{re.escape(column)}['\"]?\s*$", lines[index]):
            return index + 1
    return line_of_model + 1


@dataclass
class BuildResult:
    manifest: Manifest
    bundles: dict[str, ServiceBundle] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]


@dataclass
class _Declared:
    model: ModelNode
    meta: DataServiceMeta
    dataset: str
    service: str


class _Collector:
    def __init__(self, root: Path | None):
        self.root = root
        self.findings: list[Finding] = []

    def add(self, model: ModelNode, rule: str, message: str, fix: str, column: str | None = None) -> None:
        where = f"model {model.name}" + (f", column {column}" if column else "")
        self.findings.append(
            Finding(
                rule=f"dataservice:{rule}",
                message=f"{where}: {message}",
                file=model.file,
                line=locate(self.root, model.file, model.name, column),
                fix=fix,
            )
        )


def _declaration(model: ModelNode, out: _Collector) -> DataServiceMeta | None:
    try:
        return DataServiceMeta.model_validate(model.declaration)
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "(block)"
            out.add(
                model,
                "declaration-invalid",
                f"meta.{META_KEY}.{where}: {error['msg']}",
                "follow the block in docs/data-services.md (keys: assistant, columns, dataset, service, order_by, "
                "version, glossary, limits)",
            )
        return None


def _columns(model: ModelNode, meta: DataServiceMeta, out: _Collector) -> list[Column]:
    columns: list[Column] = []
    seen: set[str] = set()
    for name in meta.columns:
        if name in seen:
            out.add(model, "column-duplicate", "listed twice in data_service.columns", "list each column once", name)
            continue
        seen.add(name)
        node = model.columns.get(name)
        if node is None:
            out.add(
                model,
                "column-unknown",
                "is published but not documented in the model's YAML (renamed or removed?)",
                f"add `- name: {name}` with description and data_type to the model's columns, or drop it from "
                "data_service.columns",
                name,
            )
            continue
        if not COLUMN_NAME.match(name):
            out.add(
                model,
                "column-name",
                "is not snake_case (lowercase letters, digits, underscores, starting with a letter)",
                "rename the column in the model (e.g. health_score_30d)",
                name,
            )
        pii = is_pii(node.tags, node.meta)
        if pii:
            out.add(
                model,
                "column-pii",
                f"is tagged as PII ({pii}) and must never be exported to an assistant",
                "remove it from data_service.columns (publish a non-identifying derivative if it is needed)",
                name,
            )
        if not node.description.strip():
            out.add(
                model,
                "column-undocumented",
                "has no description; the assistant would not know what it means",
                "write a description for the column in the model's YAML",
                name,
            )
        kind = assistant_type(node.data_type)
        if not node.data_type:
            out.add(
                model,
                "column-type-missing",
                "has no data_type; the published type must come from the contract",
                "set data_type on the column (and enforce the model's contract)",
                name,
            )
        elif kind is None:
            out.add(
                model,
                "column-type-unsupported",
                f"has type {node.data_type!r}, which a CSV dataset cannot carry (accepted: {', '.join(ACCEPTED)})",
                "cast it in the mart to varchar, a number, boolean, date or timestamp, or leave it unpublished",
                name,
            )
        if kind is not None and not pii and node.description.strip() and COLUMN_NAME.match(name):
            columns.append(Column(name=name, type=kind, data_type=str(node.data_type), description=node.description))
    for name in meta.order_by:
        if name not in meta.columns:
            out.add(
                model,
                "order-by-unknown",
                "orders the export but is not a published column",
                "order by published columns only",
                name,
            )
    return columns


def _check_model(model: ModelNode, meta: DataServiceMeta, dataset: str, service: str, out: _Collector) -> None:
    if not DATASET_NAME.match(dataset):
        out.add(
            model,
            "dataset-name",
            f"dataset name {dataset!r} breaks the assistant's rule: lowercase letters and underscores only",
            "set data_service.dataset to a name like customer_health (no digits, dashes or capitals)",
        )
    if not DATASET_NAME.match(service):
        out.add(
            model,
            "service-name",
            f"service name {service!r} is not lowercase letters and underscores",
            "set data_service.service to a name like customer_health",
        )
    if not ASSISTANT_NAME.match(meta.assistant):
        out.add(
            model,
            "assistant-name",
            f"assistant {meta.assistant!r} is not a logical name (lowercase, digits, '-', '_')",
            "use a logical name such as customer_success; the id per environment lives in the secret",
        )
    if len(model.description.strip()) < 10:
        out.add(
            model,
            "model-undocumented",
            "has no useful description; it becomes the dataset's description for the assistant",
            "describe the model in its YAML: what one row is and what it holds",
        )
    if not model.contract_enforced:
        out.add(
            model,
            "contract-not-enforced",
            "publishes a data service without an enforced dbt contract, so its types are not guaranteed",
            "set `config: {contract: {enforced: true}}` on the model",
        )


def build(manifest: Manifest, root: Path | None = None) -> BuildResult:
    """Validate every opted-in model and build one bundle per service that has no error."""
    out = _Collector(root)
    declared = _declared(manifest, out)
    _check_datasets_unique(declared, out)
    by_service: dict[str, list[_Declared]] = defaultdict(list)
    for item in declared:
        by_service[item.service].append(item)
    assistants: dict[str, set[str]] = defaultdict(set)
    for service, items in by_service.items():
        for item in items:
            assistants[item.meta.assistant].add(service)

    bundles: dict[str, ServiceBundle] = {}
    for service, items in sorted(by_service.items()):
        before = len(out.findings)
        datasets = _datasets(service, items, out)
        _check_service_agrees(service, items, out)
        _check_assistant_unshared(items[0], assistants, out)
        glossary = _glossary(items, out)
        if len(out.findings) > before or not datasets:
            continue
        bundle = _bundle(service, items, datasets, glossary, out)
        if bundle is not None:
            bundles[service] = bundle
    return BuildResult(manifest=manifest, bundles=bundles, findings=out.findings)


def _declared(manifest: Manifest, out: _Collector) -> list[_Declared]:
    """Every model that opts in with a readable declaration, with its dataset and service names."""
    declared: list[_Declared] = []
    for model in manifest.declared():
        meta = _declaration(model, out)
        if meta is None:
            continue
        dataset = meta.dataset or model.name
        declared.append(_Declared(model, meta, dataset, meta.service or dataset))
    return declared


def _check_datasets_unique(declared: list[_Declared], out: _Collector) -> None:
    by_dataset: dict[str, list[_Declared]] = defaultdict(list)
    for item in declared:
        by_dataset[item.dataset].append(item)
    for dataset, items in by_dataset.items():
        if len(items) > 1:
            for item in items:
                others = ", ".join(i.model.name for i in items if i is not item)
                out.add(
                    item.model,
                    "dataset-duplicate",
                    f"dataset {dataset!r} is also published by {others}",
                    "give each model its own data_service.dataset",
                )


def _datasets(service: str, items: list[_Declared], out: _Collector) -> list[Dataset]:
    """The service's datasets in name order; a model whose columns do not all resolve is left out (and found)."""
    datasets: list[Dataset] = []
    for item in sorted(items, key=lambda i: i.dataset):
        _check_model(item.model, item.meta, item.dataset, service, out)
        columns = _columns(item.model, item.meta, out)
        if len(columns) == len(set(item.meta.columns)) and columns:
            model = item.model
            datasets.append(
                Dataset(
                    name=item.dataset,
                    model=model.unique_id,
                    relation=Relation(database=model.database, schema=model.schema, identifier=model.alias),
                    columns=tuple(columns),
                    order_by=item.meta.order_by,
                    description=" ".join(model.description.split()),
                )
            )
    return datasets


def _check_service_agrees(service: str, items: list[_Declared], out: _Collector) -> None:
    """Every model of a service names the first one's assistant and version."""
    first = items[0]
    for item in items[1:]:
        if item.meta.assistant != first.meta.assistant:
            out.add(
                item.model,
                "service-assistant-mismatch",
                f"service {service} is published to {first.meta.assistant!r} by {first.model.name}, "
                f"this model names {item.meta.assistant!r}",
                "one service, one assistant: align the names",
            )
        if item.meta.version != first.meta.version:
            out.add(
                item.model,
                "service-version-mismatch",
                f"service {service} has version {first.meta.version} in {first.model.name}, {item.meta.version} here",
                "bump data_service.version on every model of the service",
            )


def _check_assistant_unshared(first: _Declared, assistants: dict[str, set[str]], out: _Collector) -> None:
    if len(assistants[first.meta.assistant]) > 1:
        shared = ", ".join(sorted(assistants[first.meta.assistant]))
        out.add(
            first.model,
            "assistant-shared",
            f"assistant {first.meta.assistant!r} serves several services ({shared}); each publish would "
            "replace the others' datasets",
            "give each service its own assistant",
        )


def _bundle(
    service: str,
    items: list[_Declared],
    datasets: list[Dataset],
    glossary: tuple[GlossaryTerm, ...],
    out: _Collector,
) -> ServiceBundle | None:
    """The service's bundle, or None when its generated metadata breaks the schema (found on the first model)."""
    first = items[0]
    template: dict[str, Any] = {"da_version": md.DA_VERSION}
    for built in datasets:
        template[built.name] = md.dataset_entry(
            built.name, built.description, [(c.name, c.description, c.type) for c in built.columns]
        )
    problems = md.schema_errors(template)
    for problem in problems:
        out.add(
            first.model,
            "metadata-schema",
            f"generated metadata breaks the schema: {problem}",
            "fix the model documentation the message points at",
        )
    if problems:
        return None
    return ServiceBundle(
        service=Service(
            service=service,
            assistant=first.meta.assistant,
            version=first.meta.version,
            datasets=tuple(datasets),
            limits=_limits(items),
        ),
        metadata=template,
        glossary=glossary,
    )


def _limits(items: list[_Declared]) -> Limits:
    resolved = [i.meta.limits.resolve() for i in items]
    return Limits(
        max_file_bytes=min(r.max_file_bytes for r in resolved),
        max_request_bytes=min(r.max_request_bytes for r in resolved),
        max_total_bytes=min(r.max_total_bytes for r in resolved),
    )


def _glossary(items: list[_Declared], out: _Collector) -> tuple[GlossaryTerm, ...]:
    terms: dict[str, tuple[GlossaryTerm, ModelNode]] = {}
    for item in items:
        for term in item.meta.glossary:
            key = term.term.strip().lower()
            if key in terms and terms[key][0].definition.strip() != term.definition.strip():
                out.add(
                    item.model,
                    "glossary-conflict",
                    f"glossary term {term.term!r} is defined differently by {terms[key][1].name}",
                    "define each term once per service",
                )
            terms.setdefault(key, (term, item.model))
    return tuple(term for _, (term, _) in sorted(terms.items()))


def bundle_files(bundles: dict[str, ServiceBundle]) -> dict[str, bytes]:
    """All services' files as '<service>/<file>' -> bytes (the release part's content)."""
    return {f"{name}/{file}": data for name, bundle in sorted(bundles.items()) for file, data in bundle.files().items()}
