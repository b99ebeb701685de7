"""The DAG integrity gate is evidence for MWAA only if it runs the Airflow version MWAA runs."""

import airflow
import pytest

from config import load_all

ENVIRONMENTS = load_all().environments


@pytest.mark.parametrize("environment", ENVIRONMENTS, ids=lambda env: env.name)
def test_local_airflow_is_the_mwaa_version(environment):
    assert airflow.__version__ == environment.orchestration.airflow_version, (
        f"config/{environment.name}.yaml runs Airflow {environment.orchestration.airflow_version} on MWAA but the "
        f"gate parses DAGs with {airflow.__version__}: pin apache-airflow in requirements-dev.txt to match"
    )
