"""The pipeline factory and its helpers; imported by the DAG files beside it (Airflow puts the DAG
folder on sys.path), so it ships with every release's dags/ part and needs nothing from cicd/.

Importing the package stays light: `platform_dags.spec` is read without Airflow (the editors' JSON
Schema, the scaffold, the integrity probe's spec facts), and the factory, with Airflow, loads when
a DAG file asks for `pipeline_dags`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from platform_dags.factory import build_dags, pipeline_dags
    from platform_dags.spec import PipelineSpec, PipelineSpecError, load_spec

__all__ = ["PipelineSpec", "PipelineSpecError", "build_dags", "load_spec", "pipeline_dags"]
_HOME = {
    "build_dags": "factory",
    "pipeline_dags": "factory",
    "PipelineSpec": "spec",
    "PipelineSpecError": "spec",
    "load_spec": "spec",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'platform_dags' has no attribute {name!r}")
    return getattr(importlib.import_module(f"platform_dags.{_HOME[name]}"), name)
