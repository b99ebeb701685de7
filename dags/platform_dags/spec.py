"""The pipeline spec: one small YAML file per pipeline in pipelines/, validated by a typed model.

This module runs on MWAA, where only the DAG folder and the pinned requirements exist, so it
depends on nothing but pydantic, croniter (Airflow dependencies) and pipeline_assets.yaml_source
(shipped inside the DAG folder by the release's dags part).
Environment-specific values (buckets, application ids, the Snowflake database) never appear in
a spec: the factory reads them from the Airflow configuration when a task runs.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline_assets import yaml_source

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
    freshness_sla: dt.timedelta
    retries: int = Field(default=3, ge=2, le=10)
    retry_delay: dt.timedelta = dt.timedelta(minutes=5)
    task_timeout: dt.timedelta = dt.timedelta(hours=1)
    dagrun_timeout: dt.timedelta = dt.timedelta(hours=3)
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
        # Messages start with "field: " so that the loader can point at the field's line.
        kind = self.source.kind if self.source else None
        if kind in ("s3", "kafka") and self.spark is None:
            raise ValueError(f"spark: a {kind} source needs a Spark job (spark.job and spark.size)")
        if kind == "s3" and self.load is None:
            raise ValueError("load: an s3 source lands files that must be loaded: set load.table and load.stage")
        if kind in ("s3", "kafka") and self.load is not None and self.load.stage is None:
            raise ValueError("load.stage: name the external stage over the raw bucket (schema.stage)")
        if kind == "snowflake_stage":
            if self.spark is not None:
                raise ValueError("spark: a snowflake_stage source is loaded directly; remove the Spark job")
            if self.load is None:
                raise ValueError("load: a snowflake_stage source needs load.table")
            if self.load.stage is not None:
                raise ValueError("load.stage: the stage is source.stage for a snowflake_stage source; remove it")
        if kind is None and (self.spark is not None or self.load is not None):
            raise ValueError("source: a Spark job or a load needs a source (s3, kafka or snowflake_stage)")
        if kind is None and self.dbt is None:
            raise ValueError("dbt: a pipeline without a source must run a dbt selector (it has nothing else to do)")
        if self.streaming is not None and kind != "kafka":
            raise ValueError("streaming: only a kafka source has a long-running streaming job to supervise")
        if self.publish is not None and self.dbt is None:
            raise ValueError("publish: a data service is published from a dbt mart: set dbt.selector")
        if self.task_timeout > self.dagrun_timeout:
            raise ValueError(
                f"task_timeout: {self.task_timeout} exceeds dagrun_timeout {self.dagrun_timeout}; "
                "the run would time out before its task does"
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


@dataclass(frozen=True)
class SpecProblem:
    file: str
    field: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}"


class PipelineSpecError(ValueError):
    """A spec that does not validate; every problem names the file, the line and the field."""

    def __init__(self, problems: list[SpecProblem]):
        self.problems = problems
        super().__init__("invalid pipeline spec:\n" + "\n".join(f"  {p}" for p in problems))


def _problems(error: ValidationError, file: str, lines: dict[str, int]) -> list[SpecProblem]:
    problems = []
    for item in error.errors():
        # Discriminated unions add the tag ("source.s3.prefix"); people wrote "source.prefix".
        parts = [str(p) for p in item["loc"] if p not in ("s3", "kafka", "snowflake_stage")]
        loc = ".".join(parts) or "-"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "missing":
            message = "required field is missing"
        elif item["type"] == "extra_forbidden":
            message = "unknown field (check the spelling against dags/platform_dags/spec.py)"
        elif item["type"] == "union_tag_invalid":
            message = "source.kind must be one of s3, kafka, snowflake_stage"
        elif "input" in item and not isinstance(item["input"], dict) and "(got" not in message:
            message += f" (got {item['input']!r})"
        if loc == "-":
            field, _, rest = message.partition(": ")
            if rest and " " not in field:
                loc, message = field, rest
        # A missing section has no line of its own; the shape rules that ask for one are about the source.
        line = lines.get(loc) or lines.get(loc.rsplit(".", 1)[0]) or lines.get("source")
        problems.append(SpecProblem(file, loc, message, line))
    return problems


def load_spec(path: str | Path) -> PipelineSpec:
    path = Path(path)
    file = str(path)
    try:
        document = yaml_source.load(path)
    except yaml_source.YamlSourceError as exc:
        raise PipelineSpecError([SpecProblem(file, "-", exc.message, exc.line)]) from exc
    if not isinstance(document.data, dict):
        raise PipelineSpecError([SpecProblem(file, "-", "a pipeline spec must be a mapping of fields")])
    try:
        spec = PipelineSpec.model_validate(document.data)
    except ValidationError as exc:
        raise PipelineSpecError(_problems(exc, file, document.key_lines())) from exc
    if spec.id != path.stem:
        message = f"is {spec.id!r} but the file is {path.name}; the file name is the pipeline id"
        raise PipelineSpecError([SpecProblem(file, "id", message, document.key_lines().get("id"))])
    return spec
