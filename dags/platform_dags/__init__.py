"""The pipeline factory and its helpers; imported by the DAG files beside it (Airflow puts the DAG
folder on sys.path), so it ships with every release's dags/ part and needs nothing from cicd/.

Importing the package stays light: the spec model is `platform_vocabulary.pipeline_spec` (shipped
beside this package, read without Airflow by the CDK app, the scaffold and the integrity probe),
and the factory, with Airflow, loads when a DAG file asks for `pipeline_dags`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from platform_dags.factory import build_dags, pipeline_dags
    from platform_vocabulary.pipeline_spec import PipelineSpec, PipelineSpecError, load_spec

__all__ = ["PipelineSpec", "PipelineSpecError", "build_dags", "load_spec", "pipeline_dags"]
_HOME = {
    "build_dags": "platform_dags.factory",
    "pipeline_dags": "platform_dags.factory",
    "PipelineSpec": "platform_vocabulary.pipeline_spec",
    "PipelineSpecError": "platform_vocabulary.pipeline_spec",
    "load_spec": "platform_vocabulary.pipeline_spec",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'platform_dags' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME[name]), name)
