"""Nothing that runs in a private subnet fetches packages from the internet (docs/packages.md).

Offline by design: it validates the declarations (MWAA's requirements.txt and startup script, the
Spark jar list, the locks); `make packages` is what downloads, on a machine with network.
"""

from __future__ import annotations

from cicd.gate.model import Check, Finding, GateContext
from cicd.gate.registry import register
from cicd.packages.rules import check_repository


@register
class OfflinePackagesCheck(Check):
    name = "offline-packages"
    description = "MWAA requirements/startup script and Spark jars install only locked, staged packages"
    paths = (
        "pipeline_assets/mwaa/*",
        "pipeline_assets/spark/*",
        "dags/*",
        "stacks/*",
        "constructs/*",
        "cicd/packages/*",
    )

    def run(self, ctx: GateContext) -> list[Finding]:
        return [
            Finding(
                rule=problem.rule,
                message=problem.message,
                file=problem.file,
                line=problem.line,
                fix=problem.fix,
                severity=problem.severity,
            )
            for problem in check_repository(ctx.root)
        ]
