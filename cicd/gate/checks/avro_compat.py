"""Event schemas stay compatible with what is already on the wire, under each subject's declared mode."""

from __future__ import annotations

from cicd.gate.model import Check, Finding, GateContext
from cicd.gate.registry import register
from cicd.schemas.subjects import check_repository


@register
class AvroCompatibility(Check):
    name = "avro-compat"
    description = "Avro schemas vs their released history (BACKWARD default; FORWARD, FULL, *_TRANSITIVE)"
    uses_base_ref = True
    paths = ("pipeline_assets/schemas/*", "pipeline_assets/spark/*/query.json", "cicd/schemas/*")

    def run(self, ctx: GateContext) -> list[Finding]:
        problems = check_repository(ctx.root, base_ref=ctx.base_ref)
        return [
            Finding(rule=p.rule, message=p.message, file=p.file, line=p.line, fix=p.fix, severity=p.severity)
            for p in problems
        ]
