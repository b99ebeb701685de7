"""`cdk synth` of every environment, offline, with cdk-nag's findings as gate findings."""

from __future__ import annotations

import re
import shutil

from cicd.gate.model import Check, Finding, GateContext, ToolError
from cicd.gate.registry import register
from cicd.gate.tools import run_tool, tool_path

CLOUD_ASSEMBLY = "build/cdk.out"
# cdk-nag prints: [Error at /Prod/Storage/DataKey/Resource] AwsSolutions-KMS5: The KMS key ...
NAG = re.compile(r"\[(?P<level>Error|Warning) at (?P<path>[^\]]+)\] (?P<rule>[\w.-]+): (?P<msg>.*)")
# Offline synth: no credentials, no instance metadata lookups, no Node end-of-life banner.
OFFLINE_ENV = {
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    "AWS_EC2_METADATA_DISABLED": "true",
    "CDK_DISABLE_VERSION_CHECK": "1",
    "AWS_ACCESS_KEY_ID": "",
    "AWS_SECRET_ACCESS_KEY": "",
    "AWS_SESSION_TOKEN": "",
    "AWS_PROFILE": "",
}


def synth_env() -> dict[str, str]:
    return dict(OFFLINE_ENV)


@register
class CdkSynth(Check):
    name = "cdk-synth"
    description = "cdk synth of dev, staging, prod and the delivery pipeline, offline, with cdk-nag"
    paths = ("app.py", "cdk.json", "stacks/*", "constructs/*", "config/*", "pipeline_assets/*", "package*.json")
    needs = ("release-build",)

    def run(self, ctx: GateContext) -> list[Finding]:
        cdk = tool_path("cdk", ctx.root)
        out = ctx.path(CLOUD_ASSEMBLY)
        shutil.rmtree(out, ignore_errors=True)  # never lint a stale template
        proc = run_tool(
            [cdk, "synth", "--quiet", "--output", str(out), "--no-notices", "--no-version-reporting"],
            cwd=ctx.root,
            env=synth_env(),
            timeout_s=600,
        )
        text = proc.stdout + proc.stderr
        findings = [
            Finding(
                rule=f"cdk-nag:{m['rule']}",
                message=m["msg"].strip(),
                file=m["path"],
                severity="error" if m["level"] == "Error" else "warning",
                fix="fix the resource, or add NagSuppressions on the narrowest construct with a specific reason",
            )
            for m in NAG.finditer(text)
        ]
        if proc.returncode != 0 and not any(f.severity == "error" for f in findings):
            tail = "\n".join(text.strip().splitlines()[-20:])
            return [
                Finding(
                    rule="cdk:synth",
                    message=f"synth failed:\n{tail}",
                    file="app.py",
                    fix="run `make synth` to see the whole error",
                )
            ]
        if proc.returncode == 0 and not list(out.glob("**/*.template.json")):
            raise ToolError(f"cdk synth succeeded but wrote no template under {CLOUD_ASSEMBLY}")
        count = len(list(out.glob("**/*.template.json")))
        self.summary_note = f"{count} templates"
        return findings
