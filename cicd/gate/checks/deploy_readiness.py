"""The deploy-readiness rule pack over the whole cloud assembly that cdk-synth wrote (cicd/readiness/)."""

from __future__ import annotations

from cicd.gate.checks.cdk_synth import CLOUD_ASSEMBLY, CdkSynth
from cicd.gate.model import Check, Finding, GateContext, ToolError
from cicd.gate.registry import register
from cicd.readiness.assembly import Assembly, AssemblyError
from cicd.readiness.facts import MISSING_REFERENCE, FactsError, load_facts
from cicd.readiness.findings import SUPPRESSIONS_FILE, SuppressionFileError
from cicd.readiness.findings import Finding as ReadinessFinding
from cicd.readiness.iam_reference import IamReferenceError
from cicd.readiness.pack import load_reviewed_suppressions, run
from cicd.readiness.report import write_json

REPORT = "deploy-readiness.json"


def gate_finding(finding: ReadinessFinding) -> Finding:
    return Finding(
        rule=f"readiness:{finding.rule}",
        message=f"{finding.stack} {finding.logical_id}: {finding.message}",
        file=finding.template,
        fix=finding.fix,
        severity=finding.severity,
    )


@register
class DeployReadiness(Check):
    name = "deploy-readiness"
    expected_seconds = 6
    description = "relations across every stack of every stage: keys, topics, queues, role names and deploy order"
    paths = (*CdkSynth.paths, "cicd/readiness/*", "Makefile")
    needs = ("cdk-synth",)
    # Keyed on the templates and manifests synth wrote, the pack's own files and the facts it reads.
    inputs = ("cicd/readiness/*", "Makefile", "config/delivery.yaml", "requirements-checkov.lock")
    build_inputs = ("build/cdk.out/**/manifest.json", "build/cdk.out/**/*.template.json")

    def run(self, ctx: GateContext) -> list[Finding]:
        try:
            assembly = Assembly.load(ctx.path(CLOUD_ASSEMBLY))
            facts = load_facts(ctx.root)
            reviewed = load_reviewed_suppressions(ctx.root)
        except AssemblyError as exc:
            raise ToolError(f"{exc}; cdk-synth must run first") from exc
        except (FactsError, SuppressionFileError) as exc:
            return [
                Finding(
                    rule="readiness:input",
                    message=str(exc),
                    file=exc.file if isinstance(exc, FactsError) else SUPPRESSIONS_FILE,
                    fix="correct the entry as the message says",
                )
            ]
        if facts.iam_reference is None:
            raise ToolError(MISSING_REFERENCE)
        try:
            report = run(assembly, facts, reviewed=reviewed, root=ctx.root)
        except IamReferenceError as exc:
            raise ToolError(str(exc)) from exc
        write_json(report, ctx.report_path(REPORT))  # every finding and suppression, grouped by rule
        self.summary_note = (
            f"{report.stacks} stacks, {len(report.rules)} rules, {len(report.suppressed)} suppressed with a reason"
        )
        return [gate_finding(f) for f in report.findings]
