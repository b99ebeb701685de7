from pathlib import Path

from cicd.release.parts import BundleFiles, bundle_part, files_under

# MWAA workers get the DAG folder and requirements.txt, nothing else: the run-time packages the
# DAG tasks import travel inside the DAG folder (dags/.airflowignore keeps them out of parsing).
# (repository folder, folder inside dags/)
RUNTIME_PACKAGES = (
    ("pipeline_assets/streaming_control", "streaming_control"),
    ("pipeline_assets/dataservices", "pipeline_assets/dataservices"),
)
# Write-audit-publish runs on the workers as `python -m cicd.dbt.wap_cli`: these modules and no more.
RUNTIME_MODULES = (
    "cicd/__init__.py",
    "cicd/dbt/__init__.py",
    "cicd/dbt/runner.py",
    "cicd/dbt/wap.py",
    "cicd/dbt/wap_cli.py",
)


@bundle_part("dags")
def dags(root: Path) -> BundleFiles:
    """The Airflow DAG folder exactly as MWAA will see it (activation mirrors it)."""
    yield from files_under(root, "dags")
    for source, target in RUNTIME_PACKAGES:
        for rel, data in files_under(root, source):
            yield f"{target}/{rel}", data
    for module in RUNTIME_MODULES:
        yield module, (root / module).read_bytes()
