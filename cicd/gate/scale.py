"""Grow a scratch clone to the platform's size (180 pipelines) to measure the gate where it must hold.

Each generated pipeline brings what a real one brings: its spec (cicd/dags/bench.py's realistic mix of S3,
Snowflake-stage, Kafka and transform-only pipelines), its DAG file, its dbt mart (a contracted table with the
domain mart's columns and tests, reading the domain mart) with its YAML and its selector, and the DAG task
baseline. Spark jobs are shared: a generated pipeline runs the existing job of its kind, as most production
pipelines reuse a parameterised job. Never run on a working checkout: the bench calls it on its clone.
"""

from __future__ import annotations

import copy
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from cicd.dags.bench import generate_spec
from cicd.dags.scaffold import SPEC_MODELINE, write_dag_file

# The mart each domain's generated pipelines read, and where its YAML lives.
DOMAIN_MARTS = {
    "crm": ("accounts", "dbt_project/models/marts/crm/_crm__models.yml"),
    "product": ("products", "dbt_project/models/marts/product/_product__models.yml"),
    "operations": ("orders", "dbt_project/models/marts/operations/_operations__models.yml"),
}
SHARED_JOBS = {"batch": "crm_accounts_batch", "streaming": "operations_events_stream"}
GENERATED = "generated"  # folder of the generated marts under each domain's marts folder


def spec_text(spec: dict[str, Any]) -> str:
    """A generated spec as a person's would read: the schema reference for editors on its first line."""
    return f"{SPEC_MODELINE}\n{yaml.safe_dump(spec, sort_keys=False)}"


def _mart_model(root: Path, domain: str) -> dict[str, Any]:
    name, yml = DOMAIN_MARTS[domain]
    models = yaml.safe_load((root / yml).read_text())["models"]
    return next(m for m in models if m["name"] == name)


def _mart_sql(source: str, columns: list[str]) -> str:
    listed = ",\n".join(f"    {column}" for column in columns)
    return f"select\n{listed}\n\nfrom {{{{ ref('{source}') }}}}\n"


def grow_registry(root: Path, pipelines: int = 180, seed: int = 180) -> int:
    """Add generated pipelines to the checkout at root until it holds `pipelines`; returns how many were added."""
    specs = root / "dags" / "pipelines"
    existing = len(list(specs.glob("*.yaml")))
    generated = max(0, pipelines - existing)
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    selectors_path = root / "dbt_project" / "selectors.yml"
    selectors = yaml.safe_load(selectors_path.read_text())
    marts: dict[str, list[dict[str, Any]]] = {domain: [] for domain in DOMAIN_MARTS}
    for index in range(generated):
        spec = generate_spec(index, rng)
        spec.pop("publish", None)  # data services are opted into on the mart, with a contract of their own
        if "spark" in spec:
            spec["spark"]["job"] = SHARED_JOBS["streaming" if spec["source"]["kind"] == "kafka" else "batch"]
        pipeline_id, domain = spec["id"], spec["domain"]
        (specs / f"{pipeline_id}.yaml").write_text(spec_text(spec))
        write_dag_file(root / "dags", pipeline_id)
        source, _ = DOMAIN_MARTS[domain]
        model = copy.deepcopy(_mart_model(root, domain))
        model["name"] = pipeline_id
        model["description"] = f"The {source} mart as pipeline {pipeline_id} delivers it (scale benchmark)."
        model.setdefault("config", {})["tags"] = [pipeline_id]
        model.pop("meta", None)
        marts[domain].append(model)
        folder = root / "dbt_project" / "models" / "marts" / domain / GENERATED
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{pipeline_id}.sql").write_text(_mart_sql(source, [c["name"] for c in model["columns"]]))
        selectors["selectors"].append(
            {
                "name": pipeline_id,
                "description": f"Generated pipeline {pipeline_id} -> its mart.",
                "definition": {
                    "method": "fqn",
                    "value": pipeline_id,
                    "parents": True,
                    "indirect_selection": "cautious",
                },
            }
        )
    for domain, models in marts.items():
        if models:
            yml = root / "dbt_project" / "models" / "marts" / domain / GENERATED / f"_{domain}_{GENERATED}__models.yml"
            yml.write_text(yaml.safe_dump({"version": 2, "models": models}, sort_keys=False))
    selectors_path.write_text(yaml.safe_dump(selectors, sort_keys=False))
    if generated:
        # New DAGs are new task ids: accept them as the baseline, as `cicd dags new` + `dags baseline` would.
        subprocess.run(
            [sys.executable, "-m", "cicd", "--root", str(root), "dags", "baseline"],
            cwd=root,
            check=True,
            capture_output=True,
        )
    return generated
