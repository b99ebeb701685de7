"""`cicd streaming redeploy|rollback|status|bench`: the streaming job, by hand or from the pipeline.

The same module the supervisor DAG uses does the work (pipeline_assets/streaming_control). The
environment's identifiers default to the variables MWAA gets (AIRFLOW__PLATFORM__*), so a
CodeBuild step or an operator shell exports them once. Exit codes: 0 done, 1 refused or rolled
back, 2 bad input or nothing to act on.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from cicd.options import ExitCode, add_env_option, add_profile_option, error, print_json

if TYPE_CHECKING:
    from pipeline_assets.streaming_control import Controller, Outcome

DEFAULT_JOB = "operations_events_stream"
SETTINGS = {  # option -> the [platform] setting MWAA exposes with the same meaning
    "application_id": "AIRFLOW__PLATFORM__EMR_STREAMING_APPLICATION_ID",
    "release_bucket": "AIRFLOW__PLATFORM__RELEASE_BUCKET",
    "checkpoint_bucket": "AIRFLOW__PLATFORM__CHECKPOINT_BUCKET",
}


def _region(env: str) -> str | None:
    try:
        from config import load_environment

        return str(load_environment(env).region)
    except Exception:  # boto3's own resolution (AWS_REGION, profile) still applies
        return None


def _clients(args: argparse.Namespace) -> tuple[Any, Any]:
    import boto3

    session = boto3.Session(profile_name=args.profile, region_name=_region(args.env))
    return session.client("emr-serverless"), session.client("s3")


def _setting(args: argparse.Namespace, name: str) -> str:
    from pipeline_assets.streaming_control import StreamingControlError

    value = getattr(args, name) or os.environ.get(SETTINGS[name])
    if not value:
        raise StreamingControlError(f"give --{name.replace('_', '-')} (or set {SETTINGS[name]})")
    return str(value)


def _controller(args: argparse.Namespace, emr: Any, s3: Any) -> Controller:
    from pipeline_assets.streaming_control import Controller, Timing

    timing = Timing(
        shutdown_grace_s=args.grace_seconds,
        bake_s=args.bake_seconds,
        poll_s=args.poll_seconds,
        min_new_batches=args.min_new_batches,
    )
    return Controller(emr, s3, _setting(args, "application_id"), args.job, timing=timing, log=_progress)


def _progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def _print(outcome: Outcome, as_json: bool) -> None:
    if as_json:
        print_json(outcome.as_dict())
        return
    print(f"{outcome.job_name}: {outcome.action} — release {outcome.release_id} (run {outcome.job_run_id})")
    if outcome.previous_release_id:
        print(f"  previous release: {outcome.previous_release_id}")
    if outcome.snapshot_id:
        print(f"  checkpoint snapshot: {outcome.snapshot_id}")
    if outcome.reason:
        print(f"  reason: {outcome.reason}")


def _run(args: argparse.Namespace, action: Any, emr: Any = None, s3: Any = None) -> int:
    from pipeline_assets.streaming_control import RedeployFailedError, StreamingControlError

    if emr is None or s3 is None:
        emr, s3 = _clients(args)
    try:
        outcome = action(_controller(args, emr, s3))
    except RedeployFailedError as exc:
        _print(exc.outcome, args.json)
        return ExitCode.FAILED
    except StreamingControlError as exc:
        return error(f"streaming {args.streaming_command}", str(exc), ExitCode.FAILED)
    _print(outcome, args.json)
    return ExitCode.OK


def cmd_redeploy(args: argparse.Namespace, *, emr: Any = None, s3: Any = None) -> int:
    def action(controller: Controller) -> Outcome:
        return controller.redeploy_running(
            _setting(args, "release_bucket"), args.release, retry_failed=args.retry_failed
        )

    return _run(args, action, emr, s3)


def cmd_rollback(args: argparse.Namespace, *, emr: Any = None, s3: Any = None) -> int:
    def action(controller: Controller) -> Outcome:
        return controller.rollback(_setting(args, "checkpoint_bucket"), args.snapshot)

    return _run(args, action, emr, s3)


def cmd_status(args: argparse.Namespace, *, emr: Any = None, s3: Any = None) -> int:
    from pipeline_assets.streaming_control import StreamingControlError

    if emr is None or s3 is None:
        emr, s3 = _clients(args)
    try:
        controller = _controller(args, emr, s3)
        report = controller.status(args.checkpoint_bucket or os.environ.get(SETTINGS["checkpoint_bucket"]))
    except StreamingControlError as exc:
        return error("streaming status", str(exc))
    if args.json:
        print_json(report)
    else:
        running = report["running"]
        print(f"{report['job_name']}: " + (
            f"{running['state']} run {running['job_run_id']}, release {running['release_id']}, "
            f"last committed micro-batch {running['last_committed_batch']}" if running else "not running"
        ))  # fmt: skip
        print(f"snapshots: {', '.join(report['snapshots']) or 'none'}")
    return ExitCode.OK if report["running"] else ExitCode.USAGE


def cmd_bench(args: argparse.Namespace) -> int:
    from cicd.streaming import bench

    return bench.run_from_args(args)


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be a whole number >= 1")
    return int(value)


def add_parser(subparsers: Any) -> None:
    streaming = subparsers.add_parser("streaming", help="the streaming Spark job: redeploy, rollback, status, bench")
    commands = streaming.add_subparsers(dest="streaming_command", required=True, metavar="SUBCOMMAND")

    def common(parser: argparse.ArgumentParser) -> None:
        add_env_option(parser, help_text="target environment")
        parser.add_argument("--job", default=DEFAULT_JOB, help=f"streaming job name (default {DEFAULT_JOB})")
        parser.add_argument(
            "--application-id", help=f"EMR Serverless streaming application ({SETTINGS['application_id']})"
        )
        parser.add_argument("--checkpoint-bucket", help=f"checkpoint bucket ({SETTINGS['checkpoint_bucket']})")
        parser.add_argument("--release-bucket", help=f"release bucket ({SETTINGS['release_bucket']})")
        parser.add_argument("--grace-seconds", type=_positive, default=120, help="shutdown grace period on cancel")
        parser.add_argument(
            "--bake-seconds", type=_positive, default=600, help="how long the new run must prove itself"
        )
        parser.add_argument("--poll-seconds", type=_positive, default=15, help="how often to look at the run")
        parser.add_argument("--min-new-batches", type=_positive, default=2, help="micro-batches to commit in the bake")
        parser.add_argument("--json", action="store_true", help="print the outcome as JSON")
        add_profile_option(parser)

    redeploy = commands.add_parser(
        "redeploy", help="move the running job to a release: check, snapshot, bake, roll back"
    )
    common(redeploy)
    redeploy.add_argument("--release", required=True, help="release id to run, e.g. r-0123456789abcdef")
    redeploy.add_argument("--retry-failed", action="store_true", help="try a release that already failed its bake")
    redeploy.set_defaults(handler=cmd_redeploy)

    rollback = commands.add_parser(
        "rollback", help="restore a checkpoint snapshot and restart the release that wrote it"
    )
    common(rollback)
    rollback.add_argument("--snapshot", help="snapshot id (default: the latest)")
    rollback.set_defaults(handler=cmd_rollback)

    status = commands.add_parser("status", help="the running job's release, progress and snapshots")
    common(status)
    status.set_defaults(handler=cmd_status)

    from cicd.streaming import bench as streaming_bench  # standard library only at import

    bench = commands.add_parser("bench", help="local Spark throughput and the EMR capacity it implies")
    streaming_bench.add_arguments(bench)
    bench.set_defaults(handler=cmd_bench)
