"""DAG tests import the helper package the way MWAA does (the DAG folder on sys.path), with an
Airflow home of their own so nothing reads or writes ~/airflow."""

import os
import sys
import tempfile
from pathlib import Path

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
if str(DAGS_FOLDER) not in sys.path:
    sys.path.insert(0, str(DAGS_FOLDER))
