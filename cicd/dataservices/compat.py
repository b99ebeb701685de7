"""Breaking-change check: what consumers of a published data service rely on must not disappear.

Same rules as the dbt contract compatibility check: removing a dataset or a column (a rename is a
removal plus an addition) or changing a column's type breaks whoever asks the assistant about it;
adding columns or datasets does not. A breaking change ships only on purpose: raise the service's
`version` in its meta, and the change is reported as a warning instead of an error.

The baseline is what was published last: a previous release's `dataservices/` folder (each
service's contract.json), or the committed copy in cicd/dataservices/baseline/ that
`cicd dataservice baseline` refreshes.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cicd.dataservices.build import locate
from cicd.dataservices.manifest import Manifest, ModelNode
from pipeline_assets.dataservices.bundle import CONTRACT_FILE, ServiceBundle, contract_of
from platform_vocabulary.findings import Finding

COMMITTED_BASELINE = Path("cicd") / "dataservices" / "baseline"


@dataclass(frozen=True)
class Baseline:
    contract: dict[str, Any]
    file: str  # where it came from, for findings


def load_baselines(directory: Path, root: Path | None = None) -> dict[str, Baseline]:
    """Contracts by service from a release's dataservices/ folder or the committed baseline folder."""
    found: dict[str, Baseline] = {}
    if not directory.is_dir():
        return found
    paths = sorted(directory.glob(f"*/{CONTRACT_FILE}")) or sorted(directory.glob("*.json"))
    for path in paths:
        contract = json.loads(path.read_text())
        shown = path
        if root is not None:
            with contextlib.suppress(ValueError):
                shown = path.resolve().relative_to(root.resolve())
        found[str(contract["service"])] = Baseline(contract, shown.as_posix())
    return found


def write_baselines(bundles: dict[str, ServiceBundle], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, bundle in sorted(bundles.items()):
        path = directory / f"{name}.json"
        path.write_bytes(bundle.files()[CONTRACT_FILE])
        written.append(path)
    for stale in directory.glob("*.json"):
        if stale.stem not in bundles:
            stale.unlink()
    return written


def check(
    bundles: dict[str, ServiceBundle],
    declared_services: set[str],
    baselines: dict[str, Baseline],
    manifest: Manifest,
    root: Path | None = None,
) -> list[Finding]:
    findings: list[Finding] = []
    models = {m.unique_id: m for m in manifest.models}

    for name, base in sorted(baselines.items()):
        if name not in declared_services:
            datasets = ", ".join(sorted(base.contract.get("datasets", {})))
            findings.append(
                Finding(
                    rule="dataservice:service-removed",
                    message=f"service {name} (datasets {datasets}) was published and no model declares it any more",
                    file=base.file,
                    fix=f"restore meta.data_service on its model, or retire it on purpose: delete {base.file} in the "
                    "same change and tell the assistant's users",
                )
            )

    for name, bundle in sorted(bundles.items()):
        published = baselines.get(name)
        if published is not None:
            findings += _compare(name, bundle, published, models, root)
    return findings


def _compare(
    name: str, bundle: ServiceBundle, base: Baseline, models: dict[str, ModelNode], root: Path | None
) -> list[Finding]:
    findings: list[Finding] = []
    now = contract_of(bundle.service)
    old_version = int(base.contract.get("version", 1))
    deliberate = now["version"] > old_version
    severity = "warning" if deliberate else "error"
    first = models.get(bundle.service.datasets[0].model)
    where = first.file if first else base.file
    accept = f"raise data_service.version above {old_version} to publish this breaking change on purpose"

    def add(rule: str, message: str, fix: str, file: str, line: int | None) -> None:
        suffix = f" (accepted: version {old_version} -> {now['version']})" if deliberate else ""
        findings.append(Finding(f"dataservice:{rule}", message + suffix, file, line, fix, severity))

    if now["version"] < old_version:
        findings.append(
            Finding(
                "dataservice:version-decreased",
                f"service {name}: version {now['version']} is below the published {old_version}",
                where,
                locate(root, where, first.name) if first else None,
                f"set data_service.version to {old_version} or higher",
            )
        )
    if now["assistant"] != base.contract.get("assistant"):
        add(
            "assistant-changed",
            f"service {name} moves from assistant {base.contract.get('assistant')!r} to {now['assistant']!r}",
            accept,
            where,
            locate(root, where, first.name) if first else None,
        )
    for dataset, old_columns in sorted(base.contract.get("datasets", {}).items()):
        new_columns = now["datasets"].get(dataset)
        if new_columns is None:
            add(
                "dataset-removed",
                f"service {name}: dataset {dataset} was published and is gone",
                f"publish it again, or {accept}",
                where,
                None,
            )
            continue
        model = next((models.get(d.model) for d in bundle.service.datasets if d.name == dataset), None)
        file = model.file if model else where
        for column, old_type in sorted(old_columns.items()):
            label = f"model {model.name if model else dataset}, column {column}"
            if column not in new_columns:
                added = sorted(set(new_columns) - set(old_columns))
                hint = f" (renamed to one of {', '.join(added)}?)" if added else ""
                add(
                    "column-removed",
                    f"{label}: was published in dataset {dataset} and is gone{hint}",
                    f"keep publishing {column} (add the new name beside it), or {accept}",
                    file,
                    locate(root, file, model.name) if model else None,
                )
            elif new_columns[column] != old_type:
                add(
                    "column-type-changed",
                    f"{label}: type changed from {old_type} to {new_columns[column]}",
                    f"keep the type {old_type} (publish the new one as a new column), or {accept}",
                    file,
                    locate(root, file, model.name, column) if model else None,
                )
    return findings
