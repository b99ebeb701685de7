#!/usr/bin/env python3
"""CDK entry point: configuration enters here, once.

The delivery account gets the evidence ledger and the delivery pipeline; the pipeline deploys one
DataPlatformStage per environment (dev → staging → prod) into that environment's account.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

# jsii prints a dozen-line Node 20 end-of-life banner whenever aws_cdk loads. make exports this, but
# `npx cdk bootstrap|deploy|diff` run by hand (README) starts this file without make; jsii reads the
# variable when aws_cdk is imported, hence before the imports below.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk
from constructs import Construct

from config import EnvironmentConfig, PlatformConfig, load_all
from platform_vocabulary.naming import ledger_retention_days, stage_id
from stacks.data_platform_stage import DataPlatformStage
from stacks.delivery_audit_stack import DeliveryAuditStack, approvers_role_arns
from stacks.delivery_pipeline_stack import DeliveryPipelineStack
from stacks.lambda_concurrency import check_reserved_concurrency
from stacks.monitoring_stack import release_bake_alarm_name, release_health_alarm_name
from stacks.nag import apply_nag_checks
from stacks.pipeline_access_stack import PipelineAccessStack, access_stack_name, lookup_role_arn
from stacks.staged_packages import DEFAULT_PACKAGES_DIR, StagedPackages, parse_required

ROOT = Path(__file__).resolve().parent


def cdk_cli_version() -> str:
    """The CLI the pipeline's self-mutation installs is the one package-lock.json pins for everyone."""
    return str(json.loads((ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"])


def evidence_retention_days(config: PlatformConfig) -> int:
    return ledger_retention_days(env.retention.evidence_years for env in config.environments)


def packages_required(app: cdk.App) -> bool:
    """`packages:required`: `-c packages:required=true`, else PACKAGES_REQUIRED, else cdk.json (false).

    The delivery pipeline's Validate build sets it after `make packages`, so an environment is never
    deployed without its jars and wheels; elsewhere synth stays offline (docs/packages.md).
    """
    from_env = os.environ.get("PACKAGES_REQUIRED")
    context = app.node.try_get_context("packages:required")
    cli_given = isinstance(context, str)  # -c values arrive as text; cdk.json's default is a boolean
    return parse_required(context if cli_given or from_env is None else from_env)


QUALIFIER_CONTEXT = "@aws-cdk/core:bootstrapQualifier"


def use_bootstrap_qualifier(app: cdk.App, qualifier: str) -> None:
    """Every stack (and the pipeline's role names) uses the accounts' bootstrap, `cdk bootstrap --qualifier`.

    config/delivery.yaml bootstrap_qualifier is the one place to say it: a stack synthesized with
    another qualifier would look for bootstrap roles and buckets that do not exist.
    """
    given = app.node.try_get_context(QUALIFIER_CONTEXT)
    if given is not None and given != qualifier:
        raise ValueError(
            f"config/delivery.yaml: bootstrap_qualifier is {qualifier!r} but the CDK context {QUALIFIER_CONTEXT} "
            f"says {given!r} (cdk.json or -c); set it in config/delivery.yaml only"
        )
    app.node.set_context(QUALIFIER_CONTEXT, qualifier)


def build_app(
    config: PlatformConfig, app: cdk.App | None = None, *, packages_dir: Path = DEFAULT_PACKAGES_DIR
) -> cdk.App:
    app = app or cdk.App()
    delivery = config.delivery
    use_bootstrap_qualifier(app, delivery.bootstrap_qualifier)
    # Before any stack: a required but missing package directory stops synth with the command to run.
    packages = StagedPackages.locate(packages_dir, required=packages_required(app))
    delivery_env = cdk.Environment(account=delivery.account, region=delivery.region)
    gated = [env for env in config.environments if env.approval.required]
    # What self-mutation deploys in the environment accounts, read by the trust-boundary check (below).
    access_stacks_elsewhere = [
        (
            access_stack_name(env.name),
            lookup_role_arn(qualifier=delivery.bootstrap_qualifier, account=env.account, region=env.region),
            env.region,
        )
        for env in config.environments
    ]
    audit = DeliveryAuditStack(
        app,
        "DeliveryAudit",
        description="SOC 2 change evidence: Object Lock ledger, its writers and the delivery account's trail",
        env=delivery_env,
        pipeline_name=delivery.pipeline_name,
        environment_accounts=[env.account for env in config.environments],
        retention_days=evidence_retention_days(config),
        approvers=approvers_role_arns(config),
        approver_identity=delivery.approver_identity,
        break_glass=sorted({env.approval.break_glass_role_arn for env in gated if env.approval.break_glass_role_arn}),
        trail_mode=delivery.audit_trail.mode,
        organization_trail_arn=delivery.audit_trail.organization_trail_arn,
        alarm_emails=delivery.notification_emails,
        identity_aliases=config.identity_aliases(),
        boundary_stacks_elsewhere=access_stacks_elsewhere,
        reserve_concurrency=delivery.functions.concurrency_quota is not None,
    )
    apply_nag_checks(audit)
    # Roles the pipeline names in another account exist before the pipeline does (stacks/pipeline_access_stack.py).
    access = {
        env.name: PipelineAccessStack(
            app,
            access_stack_name(env.name),
            description="Roles the delivery pipeline names in this account, deployed before the pipeline",
            env=cdk.Environment(account=env.account, region=env.region),
            environment=env.name,
            delivery_account=delivery.account,
            alarm_names=[release_health_alarm_name(env.name), release_bake_alarm_name(env.name)],
        )
        for env in config.environments
    }
    for stack in access.values():
        apply_nag_checks(stack)

    def stage_for(scope: Construct, env_config: EnvironmentConfig) -> DataPlatformStage:
        stage = DataPlatformStage(
            scope,
            stage_id(env_config.name),
            env_config=env_config,
            delivery_account=delivery.account,
            delivery_pipeline_name=delivery.pipeline_name,
            packages=packages,
            release_health_reader_role_arn=access[env_config.name].release_health_reader_role_arn,
        )
        # cdk-nag's Aspects on the app do not reach stacks inside a Stage: add them per stage, and
        # before build_pipeline(), which synthesizes the stages.
        apply_nag_checks(stage)
        return stage

    pipeline = DeliveryPipelineStack(
        app,
        "DeliveryPipeline",
        description="Delivery pipeline: gate and release build, dev → staging → approval → prod, auto-rollback",
        env=delivery_env,
        delivery=delivery,
        environments=config.environments,
        stage_factory=stage_for,
        cdk_cli_version=cdk_cli_version(),
        approval_guard=audit.approval_guard,
        trust_boundary_check=audit.trust_boundary_check,
        evidence_bucket=audit.evidence_bucket,
        evidence_key=audit.key,
    )
    apply_nag_checks(pipeline)
    for stack in access.values():
        # `cdk deploy DeliveryPipeline` and the pipeline's self-mutation deploy these first.
        pipeline.add_stack_dependency(stack, "the bake rule names the release-health reader role this stack creates")
    check_reserved_concurrency(
        app,
        [(delivery.account, delivery.functions.concurrency_quota, "config/delivery.yaml")]
        + [(env.account, env.functions.concurrency_quota, f"config/{env.name}.yaml") for env in config.environments],
    )
    return app


if __name__ == "__main__":
    build_app(load_all()).synth()
