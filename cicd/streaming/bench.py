"""Throughput of the Spark jobs on local Spark, per core, and the EMR Serverless capacity it implies.

    cicd streaming bench [--events 200000] [--cores 2] [--batch-mb 200] [--repeat 2] [--only streaming|batch] [--json]

Streaming: the operations_events_stream transform (decode, validate, deduplicate) over synthetic
single-object-encoded events, with the Python workers importing fastavro from the job's own
deps.zip, i.e. pure Python as on EMR. Batch: crm_accounts_batch end to end (read JSON lines,
conform, validate, deduplicate, write Parquet) over a synthetic CRM export. Inputs are built
and cached before the clock starts; each measurement is the best of --repeat runs after a
warm-up, divided by the local cores. Results on a laptop are a lower bound for an EMR worker
core (no co-tenants, newer CPUs), so the sizing rounds up and adds headroom.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

PEAK_EVENTS_PER_S = 40_000
BATCH_TB_PER_DAY = 12
BATCH_WINDOW_HOURS = 6  # nightly window the batch pipelines must fit in (their SLAs start at 02:00)
STREAM_HEADROOM = 2.0  # catch up a redeploy's or rollback's backlog while the peak continues
BATCH_HEADROOM = 1.3  # skew, retries, small-file overhead on S3
VCPU_PER_WORKER = 4  # EMR Serverless worker size the jobs request (4 vCPU, 16 GB)


@dataclass(frozen=True)
class Result:
    streaming_events_per_s_per_core: float
    batch_mb_per_s_per_core: float
    streaming_vcpu: int
    streaming_workers: int
    batch_average_mb_per_s: float
    batch_window_mb_per_s: float
    batch_vcpu: int
    batch_workers: int
    cores: int
    events: int
    batch_mb: float
    worker_fastavro: str  # which fastavro the Python workers decoded with


def _ceil(value: float) -> int:
    return math.ceil(value) if math.isfinite(value) else 0  # 0: not measured in this run


def capacity(events_per_core: float, mb_per_core: float) -> dict[str, float | int]:
    """The vCPU the measured per-core rates imply for the brief's volumes."""
    stream_vcpu = _ceil(PEAK_EVENTS_PER_S * STREAM_HEADROOM / events_per_core)
    average = BATCH_TB_PER_DAY * 1_000_000 / 86_400
    window = BATCH_TB_PER_DAY * 1_000_000 / (BATCH_WINDOW_HOURS * 3600)
    batch_vcpu = _ceil(window * BATCH_HEADROOM / mb_per_core)
    return {
        "streaming_vcpu": stream_vcpu,
        "streaming_workers": math.ceil(stream_vcpu / VCPU_PER_WORKER),
        "batch_average_mb_per_s": round(average, 1),
        "batch_window_mb_per_s": round(window, 1),
        "batch_vcpu": batch_vcpu,
        "batch_workers": math.ceil(batch_vcpu / VCPU_PER_WORKER),
    }


def _best(run: Callable[[], None], repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        timings.append(time.perf_counter() - started)
    return min(timings)


def _shipped_deps(workdir: Path) -> Path:
    """The streaming job's deps.zip exactly as the release ships it."""
    from cicd.release.parts.spark import spark as spark_part

    files = dict(spark_part(ROOT))
    target = workdir / "deps.zip"
    target.write_bytes(files["operations_events_stream/deps.zip"])
    return target


def _worker_fastavro(spark: Any) -> str:
    def probe(_: Any) -> str:
        import fastavro.read

        return f"{fastavro.read._read.__name__} from {fastavro.__file__}"

    return str(spark.sparkContext.parallelize([0], 1).map(probe).collect()[0])


def bench_streaming(spark: Any, events: int, cores: int, repeat: int) -> float:
    from pipeline_assets import schemas
    from pipeline_assets.spark.operations_events_stream import codec, job, synthetic

    schema = schemas.current_schema("operations.events.v1-value")
    generated = synthetic.events(events, seed=1)
    values: list[bytes | None] = [codec.encode(e, schema) for e in generated]
    # A realistic mix: 0.5 % producer retries (duplicates) and 0.1 % garbage.
    rng = random.Random(5)  # noqa: S311 (synthetic data)
    for index in rng.sample(range(events), events // 200):
        values[index] = values[index - 1]
    for index in rng.sample(range(events), events // 1000):
        values[index] = b"garbage"
    rows = synthetic.kafka_rows(values, topic=job.TOPICS[0])
    frame = spark.createDataFrame(rows, job.KAFKA_RECORD).repartition(cores * 4).cache()
    frame.count()
    job.transform(frame.limit(2000)).write.format("noop").mode("overwrite").save()  # warm-up: workers, imports
    seconds = _best(lambda: job.transform(frame).write.format("noop").mode("overwrite").save(), repeat)
    frame.unpersist()
    return events / seconds / cores


def _crm_export(folder: Path, megabytes: int) -> int:
    """Synthetic CRM export (JSON lines, ~1 % bad rows, ~5 % stale versions) of about `megabytes` MB."""
    rng = random.Random(3)  # noqa: S311 (synthetic data)
    folder.mkdir(parents=True)
    written, part, target = 0, 0, megabytes * 1_000_000
    while written < target:
        lines = []
        for i in range(20_000):
            account = rng.randrange(1, 2_000_000)
            record = {
                "account_id": f"A-{account:07d}",
                "account_name": f"Account {account}",
                "industry": rng.choice(["Retail", "Banking", "Media", "Health"]),
                "country_code": rng.choice(["AR", "BR", "US", "ES", "xx" if i % 100 == 0 else "MX"]),
                "annual_revenue": f"{rng.uniform(1e4, 1e8):,.2f}",
                "employee_count": str(rng.randrange(1, 50_000)),
                "owner_email": f"owner{rng.randrange(500)}@example.com",
                "account_status": rng.choice(["active", "prospect", "churned"]),
                "created_at": "2023-01-01T00:00:00Z",
                "updated_at": f"2024-05-01T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z",
            }
            lines.append(json.dumps(record))
        body = ("\n".join(lines) + "\n").encode()
        (folder / f"part-{part:05d}.json").write_bytes(body)
        written += len(body)
        part += 1
    return written


def bench_batch(spark: Any, workdir: Path, megabytes: int, cores: int, repeat: int) -> tuple[float, float]:
    from pipeline_assets.spark.common.batch import load
    from pipeline_assets.spark.crm_accounts_batch import job

    size = _crm_export(workdir / "inbound" / "ingest_date=2024-05-01", megabytes)
    out = workdir / "landing"

    def run() -> None:
        result = job.transform(job.extract(spark, str(workdir / "inbound"), "2024-05-01")).cache()
        load(result, output_uri=str(out / "accounts"), quarantine_uri=str(out / "quarantine"))
        result.unpersist()

    run()  # warm-up
    seconds = _best(run, repeat)
    return size / 1e6 / seconds / cores, size / 1e6


def measure(events: int, cores: int, batch_mb: int, repeat: int, only: str | None = None) -> Result:
    workdir = Path(tempfile.mkdtemp(prefix="spark-bench-"))
    try:
        deps = _shipped_deps(workdir)
        # Workers import the job's modules and fastavro from deps.zip first (pure Python, as on EMR).
        os.environ["PYTHONPATH"] = os.pathsep.join([str(deps), str(ROOT)])
        from pipeline_assets.spark.common.session import local_session

        spark = local_session(cores=cores, app_name="bench")
        spark.sparkContext.setLogLevel("ERROR")
        try:
            worker_fastavro = _worker_fastavro(spark)
            per_core_events = bench_streaming(spark, events, cores, repeat) if only != "batch" else math.nan
            per_core_mb, size_mb = (
                bench_batch(spark, workdir, batch_mb, cores, repeat) if only != "streaming" else (math.nan, 0.0)
            )
        finally:
            spark.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return Result(
        streaming_events_per_s_per_core=round(per_core_events, 1),
        batch_mb_per_s_per_core=round(per_core_mb, 2),
        cores=cores,
        events=events,
        batch_mb=round(size_mb, 1),
        worker_fastavro=worker_fastavro,
        **capacity(per_core_events, per_core_mb),  # type: ignore[arg-type]
    )


def render(result: Result) -> str:
    lines = [f"local Spark, {result.cores} cores"]
    sized = [f"EMR Serverless capacity implied ({VCPU_PER_WORKER}-vCPU workers):"]
    if math.isfinite(result.streaming_events_per_s_per_core):
        lines.append(
            f"  streaming transform   {result.streaming_events_per_s_per_core:>10,.0f} events/s per core "
            f"({result.events:,} events; workers decoded with {result.worker_fastavro.split(' from ')[0]})"
        )
        sized.append(
            f"  streaming: {PEAK_EVENTS_PER_S:,} events/s peak x {STREAM_HEADROOM} headroom "
            f"-> {result.streaming_vcpu} vCPU ({result.streaming_workers} workers)"
        )
    if math.isfinite(result.batch_mb_per_s_per_core):
        lines.append(
            f"  batch job (CRM)       {result.batch_mb_per_s_per_core:>10,.2f} MB/s per core "
            f"({result.batch_mb:,.0f} MB JSON export, end to end)"
        )
        sized.append(
            f"  batch: {BATCH_TB_PER_DAY} TB/day = {result.batch_average_mb_per_s:,.0f} MB/s average; "
            f"in a {BATCH_WINDOW_HOURS} h window {result.batch_window_mb_per_s:,.0f} MB/s x {BATCH_HEADROOM} "
            f"-> {result.batch_vcpu} vCPU ({result.batch_workers} workers)"
        )
    return "\n".join([*lines, "", *sized])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `cicd streaming bench` and `cicd streaming bench` (one list, so they agree)."""
    parser.add_argument(
        "--events", type=_positive, default=200_000, help="synthetic events for the streaming transform"
    )
    parser.add_argument("--cores", type=_positive, default=2, help="local cores; results are divided by it")
    parser.add_argument("--batch-mb", type=_positive, default=200, help="MB of synthetic CRM export")
    parser.add_argument("--repeat", type=_positive, default=2, help="timed runs per measurement (best is kept)")
    parser.add_argument("--only", choices=("streaming", "batch"), help="measure one of the two")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be a whole number >= 1")
    return int(value)


def run_from_args(args: argparse.Namespace) -> int:
    result = measure(args.events, args.cores, args.batch_mb, args.repeat, args.only)
    print(json.dumps(asdict(result), indent=2) if args.json else render(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cicd streaming bench", description=__doc__.splitlines()[0] if __doc__ else None
    )
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
