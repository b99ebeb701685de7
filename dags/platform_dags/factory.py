"""Build a pipeline's DAGs from its spec. Wiring only: what the Python tasks do lives in tasks.py.

Every environment-specific value is a template rendered when the task runs: `[platform]` options
through Airflow's `conf` in the template context, the release through the run's `resolve_release`
XCom. Parsing a DAG file therefore reads the spec from the DAG folder and nothing else.

Task ids are part of a DAG's contract with its running and past runs (Airflow marks the task
instances of a vanished task REMOVED), so they are fixed names per step, never derived from values
that change, and the DAG integrity gate flags any that disappear.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pendulum
from airflow.models.baseoperator import BaseOperator
from airflow.models.dag import DAG
from airflow.operators.python import PythonOperator
from airflow.providers.amazon.aws.operators.emr import EmrServerlessStartJobOperator
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator

from platform_dags import dbt, tasks
from platform_dags.runtime import AWS_CONN_ID
from platform_dags.tasks import RELEASE_TASK
from platform_vocabulary.pipeline_spec import PipelineSpec, Streaming, load_spec
from platform_vocabulary.spark_jars import KAFKA_STREAMING_JARS, jar_uris

SPEC_FOLDER = "pipelines"
FACTORY_TAG = "factory"

# Airflow modules this factory instantiates. Every pipeline DAG file names them as well: the
# scheduler pre-imports the `airflow.*` modules a DAG file names before forking the process that
# parses it (parsing_pre_import_modules), so their ~1.8 s import is paid once, not per file.
PRE_IMPORTED_MODULES = (
    "airflow.models.baseoperator",
    "airflow.models.dag",
    "airflow.operators.python",
    "airflow.providers.amazon.aws.operators.emr",
    "airflow.providers.common.sql.operators.sql",
)

# Driver and executors per spec size. Dynamic allocation scales executors between 1 and the maximum,
# so a small day costs little; the maxima keep one pipeline from taking the whole application.
SPARK_SIZES: dict[str, dict[str, str]] = {
    "small": {"cores": "2", "memory": "8g", "max_executors": "4"},
    "medium": {"cores": "4", "memory": "16g", "max_executors": "16"},
    "large": {"cores": "4", "memory": "16g", "max_executors": "64"},
}

# EMR waits poll every 30 s; the number of polls follows the task timeout so neither gives up first.
EMR_POLL_SECONDS = 30
# A redeploy that fails its bake and rolls back takes streaming_control up to ~74 min with its default
# timings (two cancels, two starts, one bake); killing it half-way would leave the job stopped until
# its lock expires, so the supervisor's timeouts cover that worst case.
SUPERVISOR_TASK_TIMEOUT = dt.timedelta(minutes=90)
SUPERVISOR_TIMEOUT = dt.timedelta(minutes=100)

_RELEASE = "ti.xcom_pull(task_ids='" + RELEASE_TASK + "')"
RELEASE_PREFIX = "{{ " + _RELEASE + "['release_prefix'] }}"
RELEASE_ID = "{{ " + _RELEASE + "['release_id'] }}"


def platform(key: str) -> str:
    """A `[platform]` option as a template: rendered when the task runs, never read at parse time."""
    return "{{ conf.get('platform', '" + key + "') }}"


def spec_path_for(dag_file: str | Path) -> Path:
    path = Path(dag_file)
    return path.parent / SPEC_FOLDER / f"{path.stem}.yaml"


def pipeline_dags(dag_file: str) -> dict[str, DAG]:
    """The DAGs of the pipeline whose spec is pipelines/<name of dag_file>.yaml, by dag_id."""
    return {dag.dag_id: dag for dag in build_dags(load_spec(spec_path_for(dag_file)))}


def build_dags(spec: PipelineSpec) -> list[DAG]:
    dags = []
    if spec.load is not None or spec.dbt is not None or not spec.is_streaming:
        dags.append(_pipeline_dag(spec))
    if spec.is_streaming:
        dags.append(_supervisor_dag(spec))
    return dags


def landing_uri(spec: PipelineSpec) -> str:
    """Where ingest writes and load reads; batch runs write one folder per data interval (idempotent reruns)."""
    base = "s3://" + platform("raw_bucket") + f"/landing/{spec.id}/"
    return base if spec.is_streaming else base + "interval_start={{ ts_nodash }}/"


# Streaming from MSK: the Kafka source and MSK IAM auth are not in the EMR image. The jobs run without
# internet, so the jars come from S3 where the build staged them (platform_vocabulary/spark_jars.py), never from Maven.
# State lives in RocksDB, on executor disk.
KAFKA_STREAMING_CONF = {
    "spark.jars": jar_uris(platform("release_bucket"), KAFKA_STREAMING_JARS),
    "spark.sql.streaming.stateStore.providerClass": (
        "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"
    ),
    "spark.emr-serverless.executor.disk": "50G",
}


def spark_submit_parameters(spec: PipelineSpec) -> str:
    assert spec.spark is not None
    size = SPARK_SIZES[spec.spark.size]
    conf = {
        "spark.submit.pyFiles": f"{RELEASE_PREFIX}/spark/{spec.spark.job}/deps.zip",
        "spark.driver.cores": size["cores"],
        "spark.driver.memory": size["memory"],
        "spark.executor.cores": size["cores"],
        "spark.executor.memory": size["memory"],
        "spark.dynamicAllocation.enabled": "true",
        "spark.dynamicAllocation.minExecutors": "1",
        "spark.dynamicAllocation.maxExecutors": size["max_executors"],
    }
    if spec.source is not None and spec.source.kind == "kafka":
        conf.update(KAFKA_STREAMING_CONF)
    return " ".join(f"--conf {key}={value}" for key, value in conf.items())


def entry_point_arguments(spec: PipelineSpec) -> list[str]:
    assert spec.spark is not None and spec.source is not None
    args = ["--pipeline-id", spec.id]
    if spec.source.kind == "s3":
        args += [
            "--source",
            "s3://" + platform("raw_bucket") + "/" + spec.source.prefix,
            "--output",
            landing_uri(spec),
            "--interval-start",
            "{{ data_interval_start.isoformat() }}",
            "--interval-end",
            "{{ data_interval_end.isoformat() }}",
        ]
    elif spec.source.kind == "kafka":
        args += [
            "--topic",
            spec.source.topic,
            "--output",
            landing_uri(spec),
            "--checkpoint",
            "s3://" + platform("checkpoint_bucket") + f"/{spec.spark.job}/",
            # Batch runs are tied to a release by their DAG run; a streaming run outlives it, so it says.
            "--release-id",
            RELEASE_ID,
        ]
    for key, value in sorted(spec.spark.args.items()):
        args += [f"--{key}", value]
    return args


def spark_job_driver(spec: PipelineSpec) -> dict[str, Any]:
    assert spec.spark is not None
    return {
        "sparkSubmit": {
            "entryPoint": f"{RELEASE_PREFIX}/spark/{spec.spark.job}/main.py",
            "entryPointArguments": entry_point_arguments(spec),
            "sparkSubmitParameters": spark_submit_parameters(spec),
        }
    }


def job_tags(spec: PipelineSpec) -> dict[str, str]:
    return {"pipeline": spec.id, "domain": spec.domain, "owner": spec.owner, "release_id": RELEASE_ID}


def copy_into_sql(spec: PipelineSpec) -> str:
    assert spec.load is not None and spec.source is not None
    if spec.source.kind == "snowflake_stage":
        location = f"@{spec.source.stage}/{spec.source.path}"
    else:
        assert spec.load.stage is not None
        # The external stage points at the raw bucket's root; the landing path follows it.
        location = f"@{spec.load.stage}/landing/{spec.id}/"
        if not spec.is_streaming:
            location += "interval_start={{ ts_nodash }}/"
    file_format = {
        "parquet": "TYPE = PARQUET",
        "json": "TYPE = JSON",
        "csv": "TYPE = CSV PARSE_HEADER = TRUE FIELD_OPTIONALLY_ENCLOSED_BY = '\"'",
    }[spec.load.file_format]
    # Snowflake's load history skips files already loaded (64 days), so a retried or re-run load
    # copies nothing twice; for a streaming landing folder it also picks up late files.
    return (
        f"COPY INTO {spec.load.table}\n"
        f"FROM {location}\n"
        f"FILE_FORMAT = ({file_format})\n"
        "MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE\n"
        "ON_ERROR = ABORT_STATEMENT"
    )


def _doc_md(spec: PipelineSpec, role: str) -> str:
    rows = [
        ("spec", f"`{SPEC_FOLDER}/{spec.id}.yaml`"),
        ("owner", spec.owner),
        ("source", f"{spec.source.kind}: {_source_name(spec)}" if spec.source else "-"),
        ("spark job", f"{spec.spark.job} ({spec.spark.size})" if spec.spark else "-"),
        ("load", spec.load.table if spec.load else "-"),
        ("dbt selector", spec.dbt.selector if spec.dbt else "-"),
        ("data service", spec.publish.data_service if spec.publish else "-"),
        ("freshness SLA", str(spec.freshness_sla)),
    ]
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    return f"{spec.description}\n\n{role}\n\n| | |\n|---|---|\n{table}\n"


def _source_name(spec: PipelineSpec) -> str:
    assert spec.source is not None
    if spec.source.kind == "s3":
        return spec.source.prefix
    if spec.source.kind == "kafka":
        return spec.source.topic
    return f"@{spec.source.stage}/{spec.source.path}"


def _dag(
    spec: PipelineSpec,
    dag_id: str,
    *,
    schedule: str,
    tags: set[str],
    dagrun_timeout: dt.timedelta,
    task_timeout: dt.timedelta,
    retry_delay: dt.timedelta,
    doc: str,
) -> DAG:
    start = spec.start_date
    return DAG(
        dag_id=dag_id,
        description=spec.description.strip().splitlines()[0][:200],
        doc_md=doc,
        schedule=schedule,
        start_date=pendulum.datetime(start.year, start.month, start.day, tz="UTC"),
        catchup=False,
        max_active_runs=spec.max_active_runs,
        dagrun_timeout=dagrun_timeout,
        tags=sorted(tags),
        default_args={
            "owner": spec.owner,
            "retries": spec.retries,
            "retry_delay": retry_delay,
            "retry_exponential_backoff": True,
            "execution_timeout": task_timeout,
        },
    )


def _resolve_release(dag: DAG) -> PythonOperator:
    return PythonOperator(task_id=RELEASE_TASK, python_callable=tasks.resolve_release, dag=dag)


def _pipeline_dag(spec: PipelineSpec) -> DAG:
    tags = {spec.domain, spec.shape, FACTORY_TAG, *spec.tags}
    if spec.publish is not None:
        tags.add("data-service")
    dag = _dag(
        spec,
        spec.id,
        schedule=spec.schedule,
        tags=tags,
        dagrun_timeout=spec.dagrun_timeout,
        task_timeout=spec.task_timeout,
        retry_delay=spec.retry_delay,
        doc=_doc_md(spec, "Ingest, load, transform and publish, one run per data interval."),
    )
    steps: list[BaseOperator] = []
    needs_release = (spec.spark is not None and not spec.is_streaming) or spec.dbt is not None
    if needs_release:
        steps.append(_resolve_release(dag))
    if spec.spark is not None and not spec.is_streaming:
        steps.append(
            EmrServerlessStartJobOperator(
                task_id="ingest",
                dag=dag,
                application_id=platform("emr_batch_application_id"),
                execution_role_arn=platform("emr_job_role_arn"),
                job_driver=spark_job_driver(spec),
                name=f"{spec.id}-{{{{ ts_nodash }}}}",
                config={
                    "executionTimeoutMinutes": int(spec.task_timeout.total_seconds() // 60),
                    "tags": job_tags(spec),
                },
                aws_conn_id=AWS_CONN_ID,
                wait_for_completion=True,
                waiter_delay=EMR_POLL_SECONDS,
                waiter_max_attempts=int(spec.task_timeout.total_seconds() // EMR_POLL_SECONDS) + 1,
                # Deferring would free the worker slot while Spark runs, but the trigger needs aiobotocore,
                # which neither the MWAA requirements nor the lock pin yet.
                deferrable=False,
            )
        )
    if spec.load is not None:
        steps.append(
            SQLExecuteQueryOperator(
                task_id="load",
                dag=dag,
                conn_id=platform("snowflake_conn_id"),
                sql=copy_into_sql(spec),
                split_statements=False,
                show_return_value_in_logs=True,
                do_xcom_push=False,
            )
        )
    if spec.dbt is not None:
        steps.append(
            PythonOperator(
                task_id="transform",
                dag=dag,
                python_callable=tasks.transform,
                op_kwargs={"selector": spec.dbt.selector, "pipeline_id": spec.id},
                pool=dbt.WAP_POOL,  # publishes swap one shared schema: one at a time
            )
        )
    if spec.publish is not None:
        steps.append(
            PythonOperator(
                task_id="publish",
                dag=dag,
                python_callable=tasks.publish,
                op_kwargs={"data_service": spec.publish.data_service, "pipeline_id": spec.id},
            )
        )
    # Freshness is a promise about the last step: data for an interval is usable this long after it ends.
    steps[-1].sla = spec.freshness_sla
    for upstream, downstream in itertools.pairwise(steps):
        upstream >> downstream
    return dag


def _supervisor_dag(spec: PipelineSpec) -> DAG:
    assert spec.spark is not None
    streaming = spec.streaming or Streaming()
    dag = _dag(
        spec,
        spec.supervisor_dag_id,
        schedule=streaming.supervisor_schedule,
        tags={spec.domain, "streaming", "supervisor", FACTORY_TAG},
        dagrun_timeout=SUPERVISOR_TIMEOUT,
        task_timeout=SUPERVISOR_TASK_TIMEOUT,
        retry_delay=dt.timedelta(minutes=1),
        doc=_doc_md(
            spec,
            f"Keeps the streaming job `{spec.spark.job}` running on the streaming EMR application, "
            "from the active release: starts it when it is not running, restarts it when a new release is active.",
        ),
    )
    ensure = PythonOperator(
        task_id="ensure_streaming_job",
        dag=dag,
        python_callable=tasks.supervise_streaming_job,
        op_kwargs={
            "pipeline_id": spec.id,
            "job_name": spec.spark.job,
            "application_id": platform("emr_streaming_application_id"),
            "execution_role_arn": platform("emr_job_role_arn"),
            "job_driver": spark_job_driver(spec),
            "tags": job_tags(spec),
        },
    )
    _resolve_release(dag) >> ensure
    return dag
