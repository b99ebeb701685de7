"""The pipeline registry (dags/pipelines/*.yaml) as the CDK app reads it, without importing Airflow."""

from __future__ import annotations

from pathlib import Path

from platform_vocabulary.pipeline_spec import PipelineSpec, load_spec

ROOT = Path(__file__).resolve().parent.parent


def load_registry(folder: Path = ROOT / "dags" / "pipelines") -> list[PipelineSpec]:
    """Every pipeline spec, sorted by file; a bad spec raises with its file, line and field."""
    return [load_spec(path) for path in sorted(folder.glob("*.yaml"))]
