"""One entry point for the gate, the CLI and the release part: manifest -> bundles + findings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cicd.dataservices import compat
from cicd.dataservices.build import BuildResult, build
from cicd.dataservices.declaration import DataServiceMeta
from cicd.dataservices.manifest import load, locate_or_compile
from platform_vocabulary.findings import Finding


@dataclass
class Validation:
    result: BuildResult
    findings: list[Finding]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]


def declared_services(result: BuildResult) -> set[str]:
    names = set()
    for model in result.manifest.declared():
        raw = model.declaration
        if not isinstance(raw, dict):
            continue
        try:
            meta = DataServiceMeta.model_validate(raw)
        except ValueError:
            # An invalid block still claims its service: report it as invalid, not as removed.
            names.add(str(raw.get("service") or raw.get("dataset") or model.name))
            continue
        names.add(meta.service or meta.dataset or model.name)
    return names


def validate(root: Path, *, manifest_path: Path | None = None, baseline_dir: Path | None = None) -> Validation:
    path = manifest_path or locate_or_compile(root)
    result = build(load(path), root)
    baselines = compat.load_baselines(baseline_dir or root / compat.COMMITTED_BASELINE, root)
    findings = result.findings + compat.check(
        result.bundles, declared_services(result), baselines, result.manifest, root
    )
    return Validation(result, findings)
