"""An MWAA environment's requirements and startup script install only what it ships, never from the internet.

MWAA runs in private subnets. Its requirements.txt and startup script are deployed with it (here, written
to the DAG bucket by a custom resource whose version the environment pins), so their text is in the
template. A package index, a URL or an unpinned pip install in either makes every container start wait
for a network it does not have: the environment fails to create or to update. The checks are the
offline-packages rules (cicd/packages/rules.py), applied to what is actually deployed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from cicd.packages.rules import check_requirements, check_startup_script
from cicd.readiness.assembly import Resource
from cicd.readiness.findings import Finding
from cicd.readiness.rule import Context, Rule

NETWORK_RULES = frozenset({"packages:no-network", "packages:no-index", "packages:offline-install"})
FILES = (("RequirementsS3Path", "requirements.txt"), ("StartupScriptS3Path", "startup script"))


def uploads(ctx: Context, environment: Resource) -> dict[str, tuple[Resource, str]]:
    """Object key -> (custom resource, body) for each S3 putObject a custom resource of the stack makes."""
    found = {}
    for resource in ctx.assembly.resources():
        if resource.stack is not environment.stack or not resource.type.startswith("Custom::"):
            continue
        for phase in ("Create", "Update"):
            try:
                call = json.loads(ctx.assembly.text(resource.stack, resource.props.get(phase, "")))
            except json.JSONDecodeError:
                continue
            parameters = call.get("parameters") or {} if isinstance(call, dict) else {}
            if call.get("action") == "putObject" and isinstance(parameters.get("Body"), str):
                found[str(parameters.get("Key"))] = (resource, parameters["Body"])
    return found


class MwaaInstallsNothingFromTheInternet(Rule):
    finds = "an MWAA requirements.txt or startup script, as deployed, that reaches a package index or URL"
    fix = (
        "install from the wheels shipped in plugins.zip: --no-index, --find-links /usr/local/airflow/plugins "
        "(docs/packages.md)"
    )

    def check(self, ctx: Context) -> Iterable[Finding]:
        for environment in ctx.assembly.resources("AWS::MWAA::Environment"):
            deployed = uploads(ctx, environment)
            for prop, label in FILES:
                key = ctx.assembly.text(environment.stack, environment.props.get(prop, ""))
                if key not in deployed:
                    continue
                resource, body = deployed[key]
                problems = (
                    check_requirements(key, body, {})
                    if prop == "RequirementsS3Path"
                    else check_startup_script(key, body)
                )
                for problem in problems:
                    if problem.rule in NETWORK_RULES:
                        yield self.finding(
                            ctx,
                            resource,
                            f"the {label} it deploys for {environment.logical_id} ({key}): {problem.message}",
                            fix=problem.fix,
                            subject=problem.rule,
                        )
