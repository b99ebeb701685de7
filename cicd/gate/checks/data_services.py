"""Data-service contracts: every mart that opts in to Globant Enterprise AI publishes a valid bundle.

Builds the bundles from the compiled dbt manifest exactly as the release does, then checks the
contract (documented columns, naming rules, no PII, accepted types, metadata JSON schema) and
compares it with the last published baseline (removed or retyped columns are breaking).
"""

from __future__ import annotations

import json

from jsonschema.exceptions import SchemaError

from cicd.dataservices import compat
from cicd.dataservices.manifest import DBT_DIR, ManifestError
from cicd.dataservices.validate import validate
from cicd.gate.model import Check, Finding, GateContext, ToolError
from cicd.gate.registry import register
from pipeline_assets.dataservices import metadata as md


@register
class DataServices(Check):
    name = "data-services"
    expected_seconds = 6
    description = "Globant Enterprise AI data services: contract, PII, types, metadata schema, breaking changes"
    paths = ("dbt_project/*", "cicd/dataservices/*", "pipeline_assets/dataservices/*")

    def run(self, ctx: GateContext) -> list[Finding]:
        try:
            md.schema_errors({"da_version": md.DA_VERSION})
        except SchemaError as exc:
            return [
                Finding(
                    rule="dataservice:schema-invalid",
                    message=f"the metadata JSON schema is not a valid Draft 2020-12 schema: {exc.message}",
                    file=ctx.relative(md.SCHEMA_PATH),
                    fix="repair the schema file (check it with jsonschema's Draft202012Validator.check_schema)",
                )
            ]
        if not (ctx.root / DBT_DIR / "dbt_project.yml").exists():
            published = compat.load_baselines(ctx.root / compat.COMMITTED_BASELINE, ctx.root)
            return [
                Finding(
                    rule="dataservice:no-dbt-project",
                    message=f"{DBT_DIR}/dbt_project.yml not found: there is no dbt project to read data services from",
                    file=f"{DBT_DIR}/dbt_project.yml",
                    fix="data services are declared on dbt marts; restore the dbt project",
                    # Nothing was ever published: there is nothing to break yet.
                    severity="error" if published else "warning",
                )
            ]
        try:
            validation = validate(ctx.root)
        except ManifestError as exc:
            raise ToolError(str(exc)) from exc
        bundles = validation.result.bundles
        report = {
            "manifest": str(validation.result.manifest.path),
            "services": {
                name: {
                    "assistant": b.service.assistant,
                    "version": b.service.version,
                    "datasets": {d.name: [c.name for c in d.columns] for d in b.service.datasets},
                    "sha256": b.content_sha256(),
                }
                for name, b in sorted(bundles.items())
            },
            "findings": [f.render() for f in validation.findings],
        }
        ctx.report_path("data-services.json").write_text(json.dumps(report, indent=2) + "\n")
        datasets = sum(len(b.service.datasets) for b in bundles.values())
        self.summary_note = f"{len(bundles)} service(s), {datasets} dataset(s)"
        if not validation.result.manifest.declared():
            return [
                *validation.findings,
                Finding(
                    rule="dataservice:none-declared",
                    message="no dbt model opts in to a data service, so there is nothing to publish",
                    file=f"{DBT_DIR}/models",
                    fix="add meta.data_service to a mart (see the example block in docs/data-services.md)",
                    severity="warning",
                ),
            ]
        return validation.findings
