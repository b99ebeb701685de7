"""The pipeline spec: one small YAML file per pipeline in dags/pipelines/, validated by a typed model.

The DAG factory, the CDK app (stacks/pipeline_registry.py) and the `cicd dags` tools read it. It
runs on MWAA, where only the DAG folder and the pinned requirements exist, so it depends on nothing
but pydantic, croniter (Airflow dependencies) and platform_vocabulary.yaml_source (the release's
dags part ships the whole package inside the DAG folder).
Environment-specific values (buckets, application ids, the Snowflake database) never appear in
a spec: the factory reads them from the Airflow configuration when a task runs.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from croniter import croniter
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from platform_vocabulary import yaml_source
from platform_vocabulary.yaml_source import validation
from platform_vocabulary.yaml_source.validation import RuleViolation

Domain = Literal["crm", "product", "operations"]
SparkSize = Literal["small", "medium", "large"]

PipelineId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{2,62}$")]
Team = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,40}$")]
Tag = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,30}$")]
# schema.object: the database is the environment's (the Snowflake connection's default), never the spec's.
SnowflakeName = Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_$]*\.[A-Z_][A-Z0-9_$]*$")]
KafkaTopic = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*\.v[0-9]+$")]
DbtSelector = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]

# Presets that run periodically; "@once" and None would leave a pipeline that never refreshes.
SCHEDULE_PRESETS = ("@hourly", "@daily", "@weekly", "@monthly", "@yearly")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def format_duration(value: dt.timedelta) -> str:
    """timedelta -> "1h30m", the way specs write durations (parse_duration reads it back)."""
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = zip((days, hours, minutes, seconds), "dhms", strict=True)
    return "".join(f"{amount}{unit}" for amount, unit in parts if amount) or "0s"


# Written "45m", "6h", "1d", "1h30m"; the JSON Schema says so, so editors do not expect ISO 8601's "PT45M".
Duration = Annotated[
    dt.timedelta,
    WithJsonSchema({"type": "string", "pattern": _DURATION.pattern, "description": "a duration: 45m, 6h, 1d or 1h30m"}),
]


def parse_duration(value: Any) -> dt.timedelta:
    """'90m', '6h', '1d', '1h30m' -> timedelta. Plain numbers are refused: their unit is a guess."""
    if isinstance(value, dt.timedelta):
        return value
    if not isinstance(value, str) or not value or not (match := _DURATION.match(value.strip())):
        raise ValueError(f"must be a duration like '45m', '6h', '1d' or '1h30m' (got {value!r})")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    duration = dt.timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if duration <= dt.timedelta(0):
        raise ValueError(f"must be longer than zero (got {value!r})")
    return duration


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class S3Source(_Strict):
    """Files that land in the environment's raw bucket under a prefix; read by the ingest Spark job."""

    kind: Literal["s3"]
    prefix: str = Field(pattern=r"^[a-z0-9][a-z0-9_./=-]*/$", description="key prefix in the raw bucket, ends with /")


class KafkaSource(_Strict):
    """A Kafka topic on MSK, consumed by a long-running streaming Spark job."""

    kind: Literal["kafka"]
    topic: KafkaTopic


class SnowflakeStageSource(_Strict):
    """Files already in a Snowflake stage (e.g. a vendor drop): loaded with COPY INTO, no Spark job."""

    kind: Literal["snowflake_stage"]
    stage: SnowflakeName
    path: str = Field(default="", pattern=r"^([a-z0-9][a-z0-9_./=-]*/)?$")


Source = Annotated[S3Source | KafkaSource | SnowflakeStageSource, Field(discriminator="kind")]


class SparkJob(_Strict):
    job: PipelineId = Field(description="folder of the job in the release bundle: spark/<job>/main.py")
    size: SparkSize
    # Extra --key value arguments for the job's main(); paths and the data interval are added by the factory.
    args: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$")], str] = Field(default_factory=dict)


class Load(_Strict):
    """COPY INTO a raw table from a stage; Snowflake's load history makes a re-run load nothing twice."""

    table: SnowflakeName
    stage: SnowflakeName | None = Field(default=None, description="external stage over the raw bucket")
    file_format: Literal["parquet", "json", "csv"] = "parquet"


class Dbt(_Strict):
    selector: DbtSelector


class Publish(_Strict):
    data_service: PipelineId = Field(description="the Globant Enterprise AI data service built from a dbt mart")


class Streaming(_Strict):
    supervisor_schedule: str = "*/10 * * * *"


def _check_schedule(value: str) -> str:
    if value in SCHEDULE_PRESETS or (value.count(" ") >= 4 and croniter.is_valid(value)):
        return value
    raise ValueError(f"must be a cron expression or one of {', '.join(SCHEDULE_PRESETS)} (got {value!r})")


class PipelineSpec(_Strict):
    id: PipelineId
    description: str = Field(min_length=10)
    owner: Team
    domain: Domain
    schedule: str
    start_date: dt.date
    source: Source | None = None
    spark: SparkJob | None = None
    load: Load | None = None
    dbt: Dbt | None = None
    publish: Publish | None = None
    streaming: Streaming | None = None
    freshness_sla: Duration
    retries: int = Field(default=3, ge=2, le=10)
    retry_delay: Duration = dt.timedelta(minutes=5)
    task_timeout: Duration = dt.timedelta(hours=1)
    dagrun_timeout: Duration = dt.timedelta(hours=3)
    max_active_runs: int = Field(default=1, ge=1, le=3)
    tags: tuple[Tag, ...] = ()

    @field_validator("freshness_sla", "retry_delay", "task_timeout", "dagrun_timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> dt.timedelta:
        return parse_duration(value)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        return _check_schedule(value)

    @field_validator("streaming")
    @classmethod
    def _supervisor_schedule(cls, value: Streaming | None) -> Streaming | None:
        if value is not None:
            _check_schedule(value.supervisor_schedule)
        return value

    @model_validator(mode="after")
    def _shape(self) -> PipelineSpec:
        # Messages start with "field: " so that the loader can point at the field's line; the rule id
        # (pipeline-shape: which sections a source needs) is what the gate reports as dag:spec-<rule>.
        kind = self.source.kind if self.source else None

        def shape(message: str) -> RuleViolation:
            return RuleViolation("pipeline-shape", message, fix="see the shapes table in dags/README.md")

        if kind in ("s3", "kafka") and self.spark is None:
            raise shape(f"spark: a {kind} source needs a Spark job (spark.job and spark.size)")
        if kind == "s3" and self.load is None:
            raise shape("load: an s3 source lands files that must be loaded: set load.table and load.stage")
        if kind in ("s3", "kafka") and self.load is not None and self.load.stage is None:
            raise shape("load.stage: name the external stage over the raw bucket (schema.stage)")
        if kind == "snowflake_stage":
            if self.spark is not None:
                raise shape("spark: a snowflake_stage source is loaded directly; remove the Spark job")
            if self.load is None:
                raise shape("load: a snowflake_stage source needs load.table")
            if self.load.stage is not None:
                raise shape("load.stage: the stage is source.stage for a snowflake_stage source; remove it")
        if kind is None and (self.spark is not None or self.load is not None):
            raise shape("source: a Spark job or a load needs a source (s3, kafka or snowflake_stage)")
        if kind is None and self.dbt is None:
            raise shape("dbt: a pipeline without a source must run a dbt selector (it has nothing else to do)")
        if self.streaming is not None and kind != "kafka":
            raise shape("streaming: only a kafka source has a long-running streaming job to supervise")
        if self.publish is not None and self.dbt is None:
            raise shape("publish: a data service is published from a dbt mart: set dbt.selector")
        if self.task_timeout > self.dagrun_timeout:
            raise RuleViolation(
                "timeout-order",
                f"task_timeout: {self.task_timeout} exceeds dagrun_timeout {self.dagrun_timeout}; "
                "the run would time out before its task does",
                fix="make task_timeout shorter than dagrun_timeout",
            )
        return self

    @property
    def shape(self) -> str:
        if self.source is None:
            return "transform"
        return {"s3": "batch", "kafka": "streaming", "snowflake_stage": "batch"}[self.source.kind]

    @property
    def is_streaming(self) -> bool:
        return self.source is not None and self.source.kind == "kafka"

    @property
    def supervisor_dag_id(self) -> str:
        return f"{self.id}_supervisor"


# One shape for spec and config problems (platform_vocabulary/yaml_source/validation.py).
SpecProblem = validation.Problem
RULES_AT = "platform_vocabulary/pipeline_spec.py"


class PipelineSpecError(ValueError):
    """A spec that does not validate; every problem names the file, the line, the field, the rule and the fix."""

    def __init__(self, problems: list[SpecProblem]):
        self.problems = problems
        super().__init__("invalid pipeline spec:\n" + "\n".join(f"  {p}" for p in problems))


def load_spec(path: str | Path) -> PipelineSpec:
    path = Path(path)
    try:
        document = yaml_source.load(path)
    except yaml_source.YamlSourceError as exc:
        raise PipelineSpecError([validation.from_source_error(exc)]) from exc
    if not isinstance(document.data, dict):
        raise PipelineSpecError([validation.not_a_mapping(document.file, "fields")])
    try:
        spec = PipelineSpec.model_validate(document.data)
    except ValidationError as exc:
        # A missing section has no line of its own; the shape rules that ask for one are about the source.
        problems = validation.problems_from(exc, document, PipelineSpec, rules_at=RULES_AT, anchor_fields=("source",))
        raise PipelineSpecError(problems) from exc
    if spec.id != path.stem:
        message = f"is {spec.id!r} but the file is {path.name}; the file name is the pipeline id"
        fix = f"set `id: {path.stem}`, or rename the file to {spec.id}.yaml"
        line = document.key_lines().get("id")
        raise PipelineSpecError([SpecProblem(document.file, "id", message, line, rule="id-mismatch", fix=fix)])
    return spec
