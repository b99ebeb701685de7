"""The DAG folder parsed by the real Airflow (MWAA's version) and held to the DAG policy.

Always checks the whole folder, even for a narrow change: a change to the helper package or one
spec can break any DAG, and the whole folder parses in a few seconds.
"""

from __future__ import annotations

import json

from cicd.dags.integrity import check, timing, write_junit
from cicd.dags.rules import RULE_PREFIX
from cicd.gate.model import Check, Finding, GateContext
from cicd.gate.registry import register
from config import ConfigError, load_all


def airflow_version_findings(version: str, ctx: GateContext) -> list[Finding]:
    """The parse is only evidence for MWAA if it ran the Airflow version MWAA runs."""
    try:
        environments = load_all(ctx.path("config")).environments
    except ConfigError:
        return []  # the config check reports it
    return [
        Finding(
            rule=f"{RULE_PREFIX}:airflow-version",
            message=f"the gate parses DAGs with Airflow {version}; {env.name} runs {env.orchestration.airflow_version}",
            file=f"config/{env.name}.yaml",
            fix="pin apache-airflow in requirements-dev.txt to orchestration.airflow_version (or change the config)",
        )
        for env in environments
        if env.orchestration.airflow_version != version
    ]


@register
class DagIntegrity(Check):
    name = "dag-integrity"
    expected_seconds = 5
    uses_base_ref = True
    description = (
        "dags/ in a real Airflow DagBag: import errors, cycles, duplicate ids, DAG policy, parse budget, "
        "no network/Variables at parse, no silently removed tasks"
    )
    paths = (
        "dags/*",
        "platform_vocabulary/*",
        "cicd/dags/*",
        "config/*",
        "dbt_project/selectors.yml",
        "platform_vocabulary/spark_jobs.py",
        "requirements*",
        "pipeline_assets/mwaa/*",
    )

    def run(self, ctx: GateContext) -> list[Finding]:
        result = check(ctx.root, base_ref=ctx.base_ref)
        write_junit(result, ctx.root, ctx.report_path("dag-integrity.xml"))
        stats = timing(result.facts, result.wall_seconds)
        ctx.report_path("dag-integrity.json").write_text(
            json.dumps({"timing": stats, "findings": [vars(f) for f in result.findings]}, indent=2) + "\n"
        )
        self.summary_note = (
            f"{stats['dags']} DAGs in {stats['files']} files; parse p95 {stats['p95_seconds']:.2f} s, "
            f"slowest {stats['slowest_file']} {stats['max_seconds']:.2f} s"
        )
        return airflow_version_findings(result.facts["airflow_version"], ctx) + result.findings
