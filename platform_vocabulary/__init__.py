"""The words the CDK app, the `cicd` command and the DAG folder share, spelled once.

The ground floor: everything may import it, and it imports no cloud SDK, CDK or Airflow (only the
standard library, PyYAML, pydantic and croniter, which MWAA's image has), so the release ships it
inside the DAG folder as it is (cicd/release/parts/dags.py). tests/test_architecture.py keeps it so.
"""
