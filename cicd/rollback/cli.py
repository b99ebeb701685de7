"""`cicd rollback --env prod [--to RELEASE]`, `cicd release status --env prod` and the release drills.

Two AWS accounts are involved: the environment's (release bucket, active-release parameter,
release lane stack) and the delivery account's (the pipeline and its artifact bucket). Each gets
its own boto3 session (`--profile`, `--pipeline-profile`); regions come from config/*.yaml.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cicd.options import ExitCode, add_env_option, credentials_problem, error, print_json, print_table
from platform_vocabulary.naming import stage_id

if TYPE_CHECKING:
    from cicd.rollback.rollback import Clients, Environment, Planes

# A refused rollback (nothing changed) is a request that cannot be met: the shared USAGE code, 2.
EXIT_REFUSED = ExitCode.USAGE
DEFAULT_PIPELINE = "data-platform-delivery"
# app.py's stack of the evidence ledger in the delivery account; its output names the bucket.
DELIVERY_AUDIT_STACK = "DeliveryAudit"


def active_release_parameter(environment: str) -> str:
    # The same rule as stacks/data_platform_stage.py (a test keeps them equal); importing the stack
    # module would load aws-cdk-lib into an operations command for one string.
    return f"/data-platform/{environment}/active-release"


def _sessions(args: argparse.Namespace) -> tuple[Any, Any, Any, Any]:
    import boto3

    from config import load_all

    config = load_all(Path(args.root) / "config") if getattr(args, "root", None) else load_all()
    env_config = config.environment(args.env)
    delivery = config.delivery
    env_session = boto3.Session(profile_name=args.profile, region_name=env_config.region)
    pipeline_session = boto3.Session(profile_name=args.pipeline_profile or args.profile, region_name=delivery.region)
    return env_session, pipeline_session, env_config, delivery


def _stack_output(cloudformation: Any, stack: str, key: str) -> str:
    from cicd.rollback.rollback import RollbackRefusedError

    try:
        outputs = cloudformation.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    except Exception as exc:
        raise RollbackRefusedError(f"cannot read stack {stack} to find {key}: {exc} (or pass it explicitly)") from exc
    for output in outputs:
        if output["OutputKey"] == key:
            return str(output["OutputValue"])
    raise RollbackRefusedError(f"stack {stack} has no output {key} (pass it explicitly)")


def resolve(args: argparse.Namespace) -> tuple[Environment, Clients]:
    """Environment and clients from config and options. Tests replace this function."""
    from cicd.rollback.rollback import Clients, Environment

    env_session, pipeline_session, env_config, delivery = _sessions(args)
    clients = Clients(
        codepipeline=pipeline_session.client("codepipeline"),
        cloudformation=env_session.client("cloudformation"),
        s3=env_session.client("s3"),
        ssm=env_session.client("ssm"),
        artifacts_s3=pipeline_session.client("s3"),
    )
    stage = stage_id(env_config.name)
    bucket = args.release_bucket or _stack_output(clients.cloudformation, f"{stage}-Storage", "ReleaseBucketName")
    environment = Environment(
        name=env_config.name,
        stage=stage,
        pipeline=args.pipeline or getattr(delivery, "pipeline_name", DEFAULT_PIPELINE),
        parameter=args.parameter or active_release_parameter(env_config.name),
        release_bucket=bucket,
        release_stack=args.release_stack,
        evidence_bucket=getattr(args, "evidence_bucket", None)
        or os.environ.get("EVIDENCE_BUCKET")
        or _ledger_bucket(pipeline_session.client("cloudformation")),
    )
    return environment, clients


STREAMING_APPLICATION = "AIRFLOW__PLATFORM__EMR_STREAMING_APPLICATION_ID"


def resolve_planes(args: argparse.Namespace, env: Environment, clients: Clients) -> Planes:
    """The planes this rollback also puts back. Tests replace this function.

    Streaming: when the streaming application is known (--streaming-application-id or the variable MWAA gets).
    Data: when --data-schema names the published schema's target schema (credentials as for `dbt wap`).
    """
    from cicd.rollback.rollback import DataPlane, Planes, StreamingPlane

    planes = Planes()
    application = getattr(args, "streaming_application_id", None) or os.environ.get(STREAMING_APPLICATION)
    if application and not getattr(args, "no_streaming", False):
        from pipeline_assets.streaming_control import Controller, Timing

        timing = Timing(bake_s=args.streaming_bake_seconds, poll_s=10, pass_on_progress=True)
        emr = _session_client(args, "emr-serverless")
        controller = Controller(emr, clients.s3, application, args.streaming_job, timing=timing, log=print)
        planes.streaming = StreamingPlane(controller, env.release_bucket)
    if getattr(args, "data_schema", None):
        from pipeline_assets.dbt_wap import wap

        executor = wap.snowflake_executor(wap.connect_from_env(dict(os.environ)))
        planes.data = DataPlane(executor, os.environ.get("SNOWFLAKE_DATABASE", ""), args.data_schema)
    return planes


def _session_client(args: argparse.Namespace, service: str) -> Any:
    env_session, _, _, _ = _sessions(args)
    return env_session.client(service)


def _ledger_bucket(delivery_cloudformation: Any) -> str | None:
    """The ledger's bucket from the DeliveryAudit stack, so the template fallback needs no extra option.

    None when it cannot be read: the pipeline path does not need it, and the fallback then refuses
    with the option to pass.
    """
    from cicd.rollback.rollback import RollbackRefusedError

    try:
        return _stack_output(delivery_cloudformation, DELIVERY_AUDIT_STACK, "EvidenceBucketName")
    except RollbackRefusedError:
        return None


def cmd_rollback(args: argparse.Namespace) -> int:
    from cicd.rollback.rollback import RollbackFailedError, RollbackRefusedError, Steps, rollback

    echo = (lambda line: print(line, file=sys.stderr)) if args.json else print
    try:
        env, clients = resolve(args)
        planes = None if args.dry_run else resolve_planes(args, env, clients)
        result = rollback(
            env,
            clients,
            to=args.to,
            method=args.method,
            artifact=args.artifact,
            dry_run=args.dry_run,
            timeout_s=args.timeout,
            template_bucket=args.template_bucket,
            cfn_role_arn=args.cfn_role_arn,
            steps=Steps(echo=echo),
            planes=planes,
        )
    except RollbackRefusedError as exc:
        # Reading the stacks is the first AWS call: without credentials that is no safety refusal.
        problem = credentials_problem(exc)
        return error("rollback", problem) if problem else error("rollback refused", str(exc), EXIT_REFUSED)
    except RollbackFailedError as exc:
        return error("rollback FAILED", str(exc), ExitCode.FAILED)
    if args.json:
        print_json(result.as_dict())
    else:
        via = f" via {result.method}" + (f" ({result.reference})" if result.reference else "")
        print(f"\n{env.name}: {result.from_release} -> {result.to_release}{via} in {result.seconds:.1f}s")
        if result.fallback_reason:
            print(f"pipeline path not used: {result.fallback_reason}")
    return ExitCode.OK


def cmd_status(args: argparse.Namespace) -> int:
    from cicd.rollback.rollback import status

    try:
        env, clients = resolve(args)
        report = status(env, clients, limit=args.limit)
    except Exception as exc:  # any failure to read is reported, never a half-printed status
        problem = credentials_problem(exc)
        return (
            error("release status", problem) if problem else error("release status failed", str(exc), ExitCode.FAILED)
        )
    if args.json:
        print_json(report)
        return ExitCode.OK
    print(f"{report['environment']}: active {report['active_release']} since {report['activated_at']}")
    print(f"  commit {report['git_sha'] or '?'} ({report['build_time'] or 'build time unknown'})")
    deployed_by = report["deployed_by_execution"] or f"? ({report['pipeline_note']})"
    print(f"  deployed by pipeline execution {deployed_by}")
    previous = report["previous_release"] or "-"
    print(f"  previous release {previous} (`cicd rollback --env {env.name}` goes there)")
    print()
    print_table(
        ("version", "release", "activated (UTC)", "kind"),
        ((i["version"], i["release_id"], i["activated_at"], i["kind"]) for i in report["history"]),
        right=("version",),
    )
    return ExitCode.OK


def _common(parser: argparse.ArgumentParser) -> None:
    add_env_option(parser, help_text="the environment (config/<env>.yaml)")
    parser.add_argument(
        "--profile",
        help="AWS profile of the environment's account (default: the default chain: AWS_PROFILE, variables)",
    )
    parser.add_argument("--pipeline-profile", help="AWS profile of the delivery account (default: --profile)")
    parser.add_argument("--pipeline", help=f"pipeline name (default: delivery config, else {DEFAULT_PIPELINE})")
    parser.add_argument("--release-bucket", help="release bucket (default: output ReleaseBucketName of <Env>-Storage)")
    parser.add_argument(
        "--parameter", help="active-release SSM parameter (default: /data-platform/<env>/active-release)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON (steps go to stderr)")


def _release_group(subparsers: Any) -> Any:
    """The `release` command's sub-commands, whether or not `cicd` already defines `release`."""
    existing = subparsers.choices.get("release")
    if existing is None:
        existing = subparsers.add_parser("release", help="release bundles and released environments")
        return existing.add_subparsers(dest="release_command", required=True, metavar="SUBCOMMAND")
    for action in existing._actions:  # argparse exposes no public accessor for a parser's sub-commands
        if isinstance(action, argparse._SubParsersAction):
            return action
    return existing.add_subparsers(dest="release_command", required=True, metavar="SUBCOMMAND")


def cmd_drill(args: argparse.Namespace) -> int:
    from cicd.rollback import drill

    return drill.run_from_args(args)


def cmd_activation_bench(args: argparse.Namespace) -> int:
    from pipeline_assets.activator import bench

    return bench.run_from_args(args)


def add_drill_arguments(parser: argparse.ArgumentParser) -> None:
    """The drill's options, shared by `cicd release rollback-drill` and `cicd release rollback-drill`."""
    parser.add_argument("--path", choices=("pipeline", "template", "both"), default="both", help="which rollback path")
    parser.add_argument("--json", action="store_true", help="print the results as JSON (steps go to stderr)")
    parser.add_argument("--pad", type=int, default=0, help="generated pipelines added to both releases (e.g. 180)")


def add_parser(subparsers: Any) -> None:
    command = subparsers.add_parser(
        "rollback",
        help="roll an environment back to an earlier release (drill it locally: `cicd release rollback-drill`)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(command)
    command.add_argument(
        "--to", metavar="RELEASE", help="target release id (default: the release active before this one)"
    )
    command.add_argument(
        "--method",
        choices=("auto", "pipeline", "template"),
        default="auto",
        help="auto: pipeline, stored template if the pipeline cannot (default); or force one",
    )
    command.add_argument("--artifact", metavar="S3URI", help="synth artifact zip to take the template from (fallback)")
    command.add_argument("--release-stack", help="release lane stack name (default: found in the artifact)")
    command.add_argument(
        "--evidence-bucket",
        help="the ledger that vouches for a stored template (default: $EVIDENCE_BUCKET, else the DeliveryAudit "
        "stack's output EvidenceBucketName, read with --pipeline-profile)",
    )
    command.add_argument("--template-bucket", help="bucket to stage a template larger than 51,200 bytes")
    command.add_argument(
        "--cfn-role-arn", help="CloudFormation execution role for the change set (CDK's cfn-exec role)"
    )
    command.add_argument("--timeout", type=float, default=900, help="seconds to wait for each deployment (default 900)")
    command.add_argument("--dry-run", action="store_true", help="resolve the target and the execution, change nothing")
    command.add_argument(
        "--streaming-application-id",
        help=f"also redeploy the streaming job to the target now (default ${STREAMING_APPLICATION})",
    )
    command.add_argument("--streaming-job", default="operations_events_stream", help="the streaming job's name")
    command.add_argument(
        "--streaming-bake-seconds", type=float, default=600, help="longest wait for the job's first micro-batches"
    )
    command.add_argument("--no-streaming", action="store_true", help="leave the streaming job to its supervisor")
    command.add_argument(
        "--data-schema",
        metavar="SCHEMA",
        help="also swap the published marts of SCHEMA (e.g. analytics) back to the target's publish "
        "(Snowflake credentials as for `dbt wap`)",
    )
    command.set_defaults(handler=cmd_rollback)

    release_status = _release_group(subparsers).add_parser(
        "status", help="active release, who deployed it, and the activation history of an environment"
    )
    _common(release_status)
    release_status.add_argument("--limit", type=int, default=10, help="history entries to show (default 10)")
    release_status.set_defaults(handler=cmd_status, release_stack=None)

    drill = _release_group(subparsers).add_parser(
        "rollback-drill",
        help="activate release A, then B, roll back to A on moto; prove the DAG folder is A's and time each step",
    )
    add_drill_arguments(drill)
    drill.set_defaults(handler=cmd_drill)

    from pipeline_assets.activator.bench import add_arguments as add_activation_bench_arguments

    activation = _release_group(subparsers).add_parser(
        "activation-bench", help="time the release activator on a many-file release against moto"
    )
    add_activation_bench_arguments(activation)
    activation.set_defaults(handler=cmd_activation_bench)
