#!/bin/sh
# MWAA runs this on every scheduler, worker and webserver container before Airflow starts; it must
# finish within 5 minutes. Uploaded by the orchestration stack and pinned by S3 object version, so a
# platform rollback restores it exactly.
set -eu

# dbt runs in its own virtual environment: dbt-core's dependency pins conflict with Airflow's
# constraints file, and a conflict in requirements.txt fails the whole environment update.
# Only workers run tasks, so only they pay for the install. MWAA has no internet access: the wheels
# and their hash-pinned lock (pipeline_assets/mwaa/dbt.lock) come in plugins.zip (docs/packages.md).
DBT_VENV="/usr/local/airflow/dbt-venv"
DBT_WHEELS="/usr/local/airflow/plugins/dbt"
if [ "${MWAA_AIRFLOW_COMPONENT:-}" = "worker" ]; then
    python3 -m venv "$DBT_VENV"
    "$DBT_VENV/bin/pip" install --no-cache-dir --quiet --disable-pip-version-check \
        --no-index --find-links /usr/local/airflow/plugins/dbt --require-hashes \
        -r "$DBT_WHEELS/requirements.lock"
fi

# Tasks find dbt through this variable (never a hard-coded path in a DAG file).
export DBT_EXECUTABLE="$DBT_VENV/bin/dbt"
