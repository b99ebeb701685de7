"""The pipeline registry (dags/pipelines/*.yaml) as the CDK app reads it, without importing Airflow.

The spec model lives in the DAG folder (MWAA has nothing else); its package __init__ imports the
DAG factory and with it Airflow, so spec.py is loaded on its own: it needs only pydantic, PyYAML
and croniter.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_MODULE = "platform_registry_spec"


def _spec_module() -> Any:
    if _MODULE not in sys.modules:
        spec = importlib.util.spec_from_file_location(_MODULE, ROOT / "dags" / "platform_dags" / "spec.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[_MODULE] = module
        spec.loader.exec_module(module)
    return sys.modules[_MODULE]


def load_registry(folder: Path = ROOT / "dags" / "pipelines") -> list[Any]:
    """Every pipeline spec, sorted by file; a bad spec raises with its file, line and field."""
    module = _spec_module()
    return [module.load_spec(path) for path in sorted(folder.glob("*.yaml"))]
