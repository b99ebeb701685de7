from pathlib import Path

from cicd.release.parts import BundleFiles, bundle_part, files_under

# MWAA workers get the DAG folder and requirements.txt, nothing else: the run-time packages the
# DAG tasks import travel inside the DAG folder (dags/.airflowignore keeps them out of parsing).
# (repository folder, folder inside dags/)
RUNTIME_PACKAGES = (
    ("pipeline_assets/streaming_control", "streaming_control"),
    ("pipeline_assets/dataservices", "pipeline_assets/dataservices"),
    # write-audit-publish, run by the transform tasks as `python -m pipeline_assets.dbt_wap.cli`
    ("pipeline_assets/dbt_wap", "pipeline_assets/dbt_wap"),
    # the pipeline specs' YAML loader: platform_dags/spec.py imports it while the DAG files parse
    ("pipeline_assets/yaml_source", "pipeline_assets/yaml_source"),
)


@bundle_part("dags")
def dags(root: Path) -> BundleFiles:
    """The Airflow DAG folder exactly as MWAA will see it (activation mirrors it)."""
    yield from files_under(root, "dags")
    for source, target in RUNTIME_PACKAGES:
        for rel, data in files_under(root, source):
            yield f"{target}/{rel}", data
