"""The pipeline factory and its helpers; imported by the DAG files beside it (Airflow puts the DAG
folder on sys.path), so it ships with every release's dags/ part and needs nothing from cicd/."""

from platform_dags.factory import build_dags, pipeline_dags
from platform_dags.spec import PipelineSpec, PipelineSpecError, load_spec

__all__ = ["PipelineSpec", "PipelineSpecError", "build_dags", "load_spec", "pipeline_dags"]
