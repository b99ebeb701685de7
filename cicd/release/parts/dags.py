from pathlib import Path

from cicd.release.parts import BundleFiles, bundle_part, files_under


@bundle_part("dags")
def dags(root: Path) -> BundleFiles:
    """The Airflow DAG folder exactly as MWAA will see it (activation mirrors it)."""
    return files_under(root, "dags")
