"""Scale benchmark: the DAG integrity check on a copy of dags/ grown to N realistic pipelines.

The copy keeps the repository's real specs, helper package and .airflowignore and adds generated
specs (a deterministic mix of the shapes production runs: S3 batch, Snowflake-stage loads,
streaming, transform-only, data services) with their DAG files, then runs exactly what the gate
runs and reports total time, per-file parse time (p50/p95/max) and peak memory.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cicd.dags.integrity import IntegrityRun, gather_inputs, probe_folder, timing
from cicd.dags.policy import load_policy
from cicd.dags.rules import evaluate
from cicd.dags.scaffold import write_dag_file

TARGET_TOTAL_SECONDS = 30.0
TARGET_P95_SECONDS = 0.5

ENTITIES = {
    "crm": ["accounts", "contacts", "opportunities", "leads", "cases", "campaigns", "quotes", "contracts"],
    "product": ["catalog", "prices", "inventory", "reviews", "categories", "bundles", "promotions", "suppliers"],
    "operations": ["orders", "shipments", "tickets", "returns", "payments", "invoices", "deliveries", "refunds"],
}
SYSTEMS = ["sap", "salesforce", "zendesk", "shopify", "netsuite", "hubspot", "stripe", "vendor"]
OWNERS = {"crm": "crm-data", "product": "product-data", "operations": "operations-data"}
# Shares of each shape among the generated pipelines, close to the team's inventory.
SHAPES = [("s3", 0.58), ("snowflake_stage", 0.15), ("kafka", 0.08), ("transform", 0.19)]


@dataclass
class BenchResult:
    pipelines: int
    generated: int
    timing: dict[str, Any]
    total_seconds: float
    errors: int
    run: IntegrityRun

    @property
    def meets_targets(self) -> bool:
        return (
            self.total_seconds < TARGET_TOTAL_SECONDS
            and self.timing["p95_seconds"] < TARGET_P95_SECONDS
            and self.errors == 0
        )


def _schedule(rng: random.Random) -> str:
    minute = rng.randrange(60)
    return rng.choice(
        [f"{minute} * * * *", f"{minute} {rng.randrange(24)} * * *", f"{minute} */4 * * *", f"{minute} */6 * * *"]
    )


def generate_spec(index: int, rng: random.Random) -> dict[str, Any]:
    """One realistic spec; the same index and seed give the same spec."""
    domain = list(ENTITIES)[index % 3]
    entity = rng.choice(ENTITIES[domain])
    system = rng.choice(SYSTEMS)
    pipeline_id = f"{domain}_{entity}_{system}_{index:03d}"
    shape = rng.choices([s for s, _ in SHAPES], weights=[w for _, w in SHAPES])[0]
    table = f"RAW_{domain.upper()}.{entity.upper()}_{system.upper()}"
    spec: dict[str, Any] = {
        "id": pipeline_id,
        "description": f"{entity.capitalize()} from {system} for the {domain} domain (scale benchmark).",
        "owner": OWNERS[domain],
        "domain": domain,
        "schedule": _schedule(rng),
        "start_date": "2025-01-01",
        "freshness_sla": rng.choice(["2h", "6h", "12h", "1d"]),
        "retries": rng.choice([2, 3, 4]),
        "task_timeout": "45m",
        "dagrun_timeout": "3h",
    }
    if shape == "s3":
        spec["source"] = {"kind": "s3", "prefix": f"inbound/{domain}/{entity}/{system}/"}
        spec["spark"] = {"job": f"{domain}_{entity}_batch", "size": rng.choice(["small", "medium", "large"])}
        spec["load"] = {"table": table, "stage": "RAW_LANDING.RAW_BUCKET", "file_format": "parquet"}
    elif shape == "snowflake_stage":
        spec["source"] = {"kind": "snowflake_stage", "stage": f"VENDOR.{system.upper()}_DROP", "path": f"{entity}/"}
        spec["load"] = {"table": table, "file_format": rng.choice(["csv", "json", "parquet"])}
    elif shape == "kafka":
        spec["source"] = {"kind": "kafka", "topic": f"{domain}.{entity}.v1"}
        spec["spark"] = {"job": f"{domain}_{entity}_stream", "size": "medium"}
        spec["load"] = {"table": table, "stage": "RAW_LANDING.RAW_BUCKET"}
        spec["task_timeout"], spec["dagrun_timeout"] = "30m", "55m"
    spec["dbt"] = {"selector": pipeline_id}
    if shape == "transform" and rng.random() < 0.3:
        spec["publish"] = {"data_service": pipeline_id}
    return spec


def prepare(root: Path, workdir: Path, pipelines: int, seed: int = 180) -> tuple[Path, int]:
    """A copy of root/dags with `pipelines` specs in total; returns the copy and how many were generated."""
    target = workdir / "dags"
    shutil.copytree(root / "dags", target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*_cache"))
    existing = len(list((target / "pipelines").glob("*.yaml")))
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    generated = max(0, pipelines - existing)
    for index in range(generated):
        spec = generate_spec(index, rng)
        (target / "pipelines" / f"{spec['id']}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
        write_dag_file(target, spec["id"])
    return target, generated


def run(root: Path, pipelines: int, *, keep: Path | None = None) -> BenchResult:
    policy = load_policy()
    with tempfile.TemporaryDirectory(prefix="dag-bench-") as tmp:
        workdir = keep or Path(tmp)
        folder, generated = prepare(root, workdir, pipelines)
        started = time.perf_counter()
        facts, wall = probe_folder(folder, root=root, policy=policy)
        # The same rules as the gate; no task baseline: every generated DAG is new.
        inputs, _ = gather_inputs(workdir, policy, base_ref=None)
        inputs.base_baseline = inputs.current_baseline = None
        findings = evaluate(facts, inputs)
        total = time.perf_counter() - started
    integrity = IntegrityRun(facts, findings, wall)
    return BenchResult(
        pipelines=len(facts["specs"]),
        generated=generated,
        timing=timing(facts, wall),
        total_seconds=total,
        errors=len(integrity.errors),
        run=integrity,
    )
