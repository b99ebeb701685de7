"""The `dags` part: what MWAA's DAG folder holds (dags/ and the run-time packages its tasks import)."""

from __future__ import annotations

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
    # the shared vocabulary (the pipeline spec and its YAML loader): the DAG files import it while they parse
    ("platform_vocabulary", "platform_vocabulary"),
)


def dag_folder_files(root: Path, dags_folder: Path | None = None) -> dict[str, Path]:
    """Each file of the DAG folder MWAA gets (its path inside the folder) and the file it comes from.

    `dags_folder` stands in for root/dags (a fixture folder, a generated registry); the run-time packages
    always come from root. The DAG check parses exactly these files, so it sees what MWAA sees.
    """
    folder = dags_folder if dags_folder is not None else root / "dags"
    files = {rel: folder / rel for rel, _ in files_under(folder.parent, folder.name)}
    for source, target in RUNTIME_PACKAGES:
        for rel, _ in files_under(root, source):
            if f"{target}/{rel}" in files:
                raise ValueError(f"{folder.name}/{target}/{rel} exists and {source} ships there too: rename one")
            files[f"{target}/{rel}"] = root / source / rel
    return files


@bundle_part("dags")
def dags(root: Path) -> BundleFiles:
    """The Airflow DAG folder exactly as MWAA will see it (activation mirrors it)."""
    for rel, path in sorted(dag_folder_files(root).items()):
        yield rel, path.read_bytes()
