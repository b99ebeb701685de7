#!/bin/sh
# MWAA runs this on every scheduler, worker and webserver container before Airflow starts; it must
# finish within 5 minutes. Uploaded by the orchestration stack and pinned by S3 object version, so a
# platform rollback restores it exactly.
set -eu

# dbt runs in its own virtual environment: dbt-core's dependency pins conflict with Airflow's
# constraints file, and a conflict in requirements.txt fails the whole environment update.
# Only workers run tasks, so only they pay for the install. Same pins as requirements-dev.txt.
DBT_VENV="/usr/local/airflow/dbt-venv"
if [ "${MWAA_AIRFLOW_COMPONENT:-}" = "worker" ]; then
    python3 -m venv "$DBT_VENV"
    "$DBT_VENV/bin/pip" install --no-cache-dir --quiet --disable-pip-version-check \
        "dbt-core==1.11.16" \
        "dbt-snowflake==1.12.4"
fi

# Tasks find dbt through this variable (never a hard-coded path in a DAG file).
export DBT_EXECUTABLE="$DBT_VENV/bin/dbt"
