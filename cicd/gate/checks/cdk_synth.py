"""`cdk synth` of every environment, offline, with cdk-nag's findings as gate findings."""

from __future__ import annotations

import re
import shutil

from cicd.gate.model import Check, Finding, GateContext, ToolError
from cicd.gate.registry import register
from cicd.gate.tools import run_tool, tool_path

CLOUD_ASSEMBLY = "build/cdk.out"
# cdk-nag's annotations, as older CLIs print them on one line:
#   [Error at /Prod/Storage/DataKey/Resource] AwsSolutions-KMS5: The KMS key ...
NAG = re.compile(r"\[(?P<level>Error|Warning) at (?P<path>[^\]]+)\] (?P<rule>[\w.-]+(?:\[[^\]]*\])?): (?P<msg>.*)")
# ... and as CLI 2.1100+ prints them, the construct path on the following indented line(s):
#   ERROR AwsSolutions-IAM5[Resource::*]: The IAM entity ... (Construct Annotations)
#      DeliveryPipeline/Pipeline/Role/DefaultPolicy/Resource
#      Rule Annotation::error-annotation
NAG_BLOCK = re.compile(
    r"^(?P<level>ERROR|WARN(?:ING)?) (?P<rule>[\w.-]+(?:\[[^\]\n]*\])?): (?P<msg>.*?)(?: \(Construct Annotations\))?\n"
    r"(?P<paths>(?:[ \t]+(?!Rule Annotation)\S.*\n)+)",
    re.MULTILINE,
)
# Offline synth: no credentials, no instance metadata lookups, no Node end-of-life banner.
OFFLINE_ENV = {
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    "AWS_EC2_METADATA_DISABLED": "true",
    "CDK_DISABLE_VERSION_CHECK": "1",
    # CDK's built-in template validation repeats what cfn-lint checks right after, at ~15 s per synth.
    "CDK_VALIDATION": "false",
    "AWS_ACCESS_KEY_ID": "",
    "AWS_SECRET_ACCESS_KEY": "",
    "AWS_SESSION_TOKEN": "",
    "AWS_PROFILE": "",
}


def synth_env() -> dict[str, str]:
    return dict(OFFLINE_ENV)


NAG_FIX = "fix the resource, or add NagSuppressions on the narrowest construct with a specific reason"


def nag_findings(text: str) -> list[Finding]:
    """cdk-nag's findings from synth output (either CLI format), one per rule and construct."""
    found: dict[tuple[str, str], Finding] = {}
    for m in NAG.finditer(text):
        severity = "error" if m["level"] == "Error" else "warning"
        found[(m["rule"], m["path"])] = Finding(
            f"cdk-nag:{m['rule']}", m["msg"].strip(), m["path"], None, NAG_FIX, severity
        )
    for m in NAG_BLOCK.finditer(text):
        severity = "error" if m["level"] == "ERROR" else "warning"
        message = m["msg"].strip()
        if len(message) > 300:
            message = message[:297] + "..."
        for path in m["paths"].split("\n"):
            if path.strip():
                found[(m["rule"], path.strip())] = Finding(
                    f"cdk-nag:{m['rule']}", message, path.strip(), None, NAG_FIX, severity
                )
    return list(found.values())


@register
class CdkSynth(Check):
    name = "cdk-synth"
    expected_seconds = 15
    description = "cdk synth of dev, staging, prod and the delivery pipeline, offline, with cdk-nag"
    paths = (
        "app.py",
        "cdk.json",
        "stacks/*",
        "constructs/*",
        "config/*",
        "pipeline_assets/*",
        "platform_vocabulary/*",
        "package*.json",
    )
    needs = ("release-build",)
    after = ("config", "python-lint")  # a bad config value or a syntax error fails synth after 15 s of Node
    reads_staged_packages = True  # the app refuses to synth without them under PACKAGES_REQUIRED
    # The bundle's release id is its content hash: the one file of it that the templates depend on.
    build_inputs = ("build/release/current/release.json",)
    # app.py uploads what `make packages` staged and, with PACKAGES_REQUIRED, refuses to synth without it:
    # a pass without packages must not stand for a synth with them (or the reverse).
    staged_inputs = ("build/packages/jars/*", "build/packages/plugins.zip")
    environment_inputs = ("PACKAGES_REQUIRED",)
    outputs = ("build/cdk.out/manifest.json",)

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
        findings = nag_findings(text)
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
