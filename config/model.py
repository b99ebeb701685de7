"""The typed, frozen configuration model.

Configuration enters the CDK app once, at the top, as these objects; stacks and constructs get
narrow keyword arguments taken from them. Rules that protect production live here so that a
wrong YAML file fails the gate, not a deployment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from platform_vocabulary.yaml_source.validation import RuleViolation

EnvironmentName = Literal["dev", "staging", "prod"]
ENVIRONMENT_ORDER: tuple[EnvironmentName, ...] = ("dev", "staging", "prod")

# Regions where MWAA, EMR Serverless and CodePipeline V2 are all offered (commercial partition).
AwsRegion = Literal[
    "us-east-1", "us-east-2", "us-west-1", "us-west-2",
    "ca-central-1", "sa-east-1",
    "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1", "eu-south-1",
    "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-southeast-1", "ap-southeast-2",
]  # fmt: skip

AccountId = Annotated[str, Field(pattern=r"^\d{12}$", description="12-digit AWS account id")]
VpcId = Annotated[str, Field(pattern=r"^vpc-[0-9a-f]{8,17}$")]
SubnetId = Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]
SecretName = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9/_+=.@-]+$")]
SnowflakeIdentifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_$]*$")]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
# What an approver is known by in AWS: an STS SourceIdentity or an IAM Identity Center user name; or an
# account at the source provider, by its numeric user id (`github:<id>`), which a commit cannot forge.
AwsPersonName = Annotated[str, Field(min_length=2, max_length=64, pattern=r"^(?:github:\d{1,19}|[\w+=,.@-]+)$")]
IamArn = Annotated[str, Field(pattern=r"^arn:aws:iam::\d{12}:(role|group|user)/[\w+=,.@/-]+$")]

MWAA_AIRFLOW_VERSIONS = ("2.9.2", "2.10.1", "2.10.3")
EMR_RELEASE = re.compile(r"^emr-7\.\d+\.\d+$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Network(_Frozen):
    """An existing VPC imported by id: no lookups, so synth needs no credentials."""

    vpc_id: VpcId
    private_subnet_ids: tuple[SubnetId, ...] = Field(min_length=2, max_length=2)
    availability_zones: tuple[str, ...] = Field(min_length=2, max_length=2)

    @model_validator(mode="after")
    def _distinct(self) -> Network:
        if len(set(self.private_subnet_ids)) != 2:
            raise ValueError("private_subnet_ids must name two different subnets (MWAA needs two AZs)")
        if len(set(self.availability_zones)) != 2:
            raise ValueError("availability_zones must be two different zones, one per subnet")
        return self


class Orchestration(_Frozen):
    """MWAA: sizing and the Airflow version (the local Airflow pin must match it)."""

    airflow_version: Literal["2.9.2", "2.10.1", "2.10.3"]
    environment_class: Literal["mw1.micro", "mw1.small", "mw1.medium", "mw1.large", "mw1.xlarge", "mw1.2xlarge"]
    min_workers: int = Field(ge=1, le=25)
    max_workers: int = Field(ge=1, le=25)
    max_webservers: int = Field(default=2, ge=2, le=5)
    schedulers: int = Field(default=2, ge=2, le=5)

    @model_validator(mode="after")
    def _bounds(self) -> Orchestration:
        if self.min_workers > self.max_workers:
            raise ValueError(f"min_workers ({self.min_workers}) exceeds max_workers ({self.max_workers})")
        return self


class SparkCapacity(_Frozen):
    max_vcpu: int = Field(ge=4, le=4000)
    max_memory_gb: int = Field(ge=16, le=16000)
    max_disk_gb: int = Field(ge=20, le=100000)
    idle_timeout_minutes: int = Field(ge=1, le=1440)


class Compute(_Frozen):
    """EMR Serverless: one application for batch, one for the long-running streaming job."""

    release_label: str = Field(description="EMR release with streaming job support, emr-7.x")
    batch: SparkCapacity
    streaming: SparkCapacity

    @field_validator("release_label")
    @classmethod
    def _emr7(cls, value: str) -> str:
        if not EMR_RELEASE.match(value):
            raise ValueError(f"release_label {value!r} must be an EMR 7.x label like 'emr-7.9.0' (Spark 3.5)")
        return value


class Snowflake(_Frozen):
    account: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]+$")
    database: SnowflakeIdentifier
    warehouse: SnowflakeIdentifier
    role: SnowflakeIdentifier
    user: SnowflakeIdentifier
    private_key_secret_name: SecretName
    # Airflow connection id; its secret is airflow/connections/<id> (Secrets Manager backend).
    airflow_conn_id: str = Field(default="snowflake_default", pattern=r"^[A-Za-z0-9_.-]+$")


class DataServices(_Frozen):
    """Publishing to Globant Enterprise AI: the secret holding base_url, api_token and assistant ids."""

    secret_name: SecretName = "data-platform/globant-enterprise-ai/api-token"  # noqa: S105 - a name


class Streaming(_Frozen):
    """The MSK cluster the streaming job reads; owned outside this repository."""

    msk_cluster_arn: str = Field(pattern=r"^arn:aws:kafka:[a-z0-9-]+:\d{12}:cluster/[\w-]+/[\w-]+$")
    bootstrap_servers_secret_name: SecretName


class Notifications(_Frozen):
    alarm_emails: tuple[Email, ...] = Field(min_length=1)
    release_emails: tuple[Email, ...] = Field(min_length=1)


class Approval(_Frozen):
    """Promotion policy of one environment in the delivery pipeline."""

    required: bool
    approvers_role_arn: IamArn | None = None
    # Emergency path: approvals by this role bypass the author check, are recorded as break-glass
    # and need a retroactive review by someone else (docs/audit.md).
    break_glass_role_arn: IamArn | None = None
    # After deploy, the stage watches the release-health alarm this long before it counts as good.
    bake_minutes: int = Field(ge=0, le=240)
    # CodePipeline rolls the stage back by itself on a failed deploy or a failed bake.
    auto_rollback: bool = True
    # git e-mail -> the SourceIdentity / Identity Center user names and the source-provider accounts
    # (`github:<user id>`) of the same person. The approval guard rejects an approver, or an account of
    # the change, it cannot map, and compares mapped people (IDENTITY_ALIASES of the guard Lambda).
    identity_aliases: Mapping[Email, tuple[AwsPersonName, ...]] = Field(default_factory=dict)

    @field_validator("identity_aliases")
    @classmethod
    def _one_person_per_identity(cls, value: Mapping[str, tuple[str, ...]]) -> Mapping[str, tuple[str, ...]]:
        owners: dict[str, str] = {}
        for email, names in value.items():
            if email != email.lower():
                raise ValueError(f"{email!r}: write git e-mails in lower case ({email.lower()!r})")
            if not names:
                raise ValueError(f"{email!r}: list at least one SourceIdentity or Identity Center user name")
            for name in names:
                owner = owners.setdefault(name.lower(), email)
                if owner != email:
                    raise ValueError(f"{name!r} is listed under both {owner!r} and {email!r}: one name, one person")
        return dict(value)


class Retention(_Frozen):
    log_days: Literal[7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 2557, 3653]
    release_artifact_days: int = Field(ge=30, le=3650)
    raw_landing_days: int = Field(ge=1, le=3650)
    evidence_years: int = Field(ge=1, le=10)
    # Default Object Lock retention mode of the environment's evidence bucket (its CloudTrail logs).
    # COMPLIANCE: nobody, root included, can shorten or delete before it expires. GOVERNANCE: only with
    # s3:BypassGovernanceRetention, which the bucket policy denies to everyone. prod: COMPLIANCE.
    evidence_lock_mode: Literal["COMPLIANCE", "GOVERNANCE"] = "COMPLIANCE"


class Functions(_Frozen):
    """Lambda limits of an account. Reserving concurrency needs headroom: Lambda keeps 100 of the account's
    concurrent-executions quota unreserved, and a new account's quota may be as low as 10."""

    # The account's Lambda "Concurrent executions" quota in this region, as Service Quotas shows it. Set,
    # the platform's functions reserve concurrency (bounding a runaway loop, serializing the activator)
    # and synth checks that the account keeps 100 unreserved; unset, nothing is reserved.
    concurrency_quota: int | None = Field(default=None, ge=10, le=1_000_000)


class AuditTrail(_Frozen):
    """CloudTrail for SOC 2 evidence: a trail of our own, or the organisation's existing one."""

    mode: Literal["create", "organization"] = "create"
    organization_trail_arn: str | None = Field(
        default=None, pattern=r"^arn:aws:cloudtrail:[a-z0-9-]+:\d{12}:trail/[\w.-]+$"
    )

    @model_validator(mode="after")
    def _reference(self) -> AuditTrail:
        if self.mode == "organization" and self.organization_trail_arn is None:
            raise ValueError("organization_trail_arn: required when mode is 'organization'")
        if self.mode == "create" and self.organization_trail_arn is not None:
            raise ValueError("organization_trail_arn: only allowed with mode 'organization'")
        return self


class DataPolicy(_Frozen):
    """Which data an environment may hold. Nothing below prod may hold production data."""

    source: Literal["synthetic", "masked", "production"]


class EnvironmentConfig(_Frozen):
    name: EnvironmentName
    account: AccountId
    region: AwsRegion
    network: Network
    orchestration: Orchestration
    compute: Compute
    snowflake: Snowflake
    streaming: Streaming
    notifications: Notifications
    approval: Approval
    retention: Retention
    data: DataPolicy
    audit_trail: AuditTrail = AuditTrail()
    data_services: DataServices = DataServices()
    functions: Functions = Functions()
    # Termination protection and RETAIN on stateful resources; off only where stated in config.
    protect_stateful_resources: bool = True

    @model_validator(mode="after")
    def _environment_rules(self) -> EnvironmentConfig:
        # Each production rule names itself (RuleViolation), so the gate reports e.g. config:prod-approval.
        if self.name == "prod":
            if not self.approval.required:
                raise RuleViolation(
                    "prod-approval", "approval.required: prod must require a manual approval (allowed: true)"
                )
            if self.approval.approvers_role_arn is None:
                raise RuleViolation("prod-approval", "approval.approvers_role_arn: prod needs the approvers' IAM role")
            if not self.approval.auto_rollback:
                raise RuleViolation(
                    "prod-auto-rollback", "approval.auto_rollback: prod must roll back by itself (allowed: true)"
                )
            if self.approval.bake_minutes < 10:
                raise RuleViolation(
                    "prod-bake-time", "approval.bake_minutes: prod bakes for at least 10 minutes (allowed: 10-240)"
                )
            if not self.protect_stateful_resources:
                raise RuleViolation(
                    "prod-stateful-protection",
                    "protect_stateful_resources: prod must keep stateful resources protected",
                )
            if not self.approval.identity_aliases:
                raise RuleViolation(
                    "prod-approver-identities",
                    "approval.identity_aliases: prod needs each approver's git e-mail -> SourceIdentity / "
                    "Identity Center user names; the approval guard rejects approvers it cannot map",
                )
            if self.retention.evidence_years < 7:
                raise RuleViolation(
                    "prod-evidence-retention",
                    "retention.evidence_years: prod keeps SOC 2 evidence for at least 7 years",
                )
            if self.retention.evidence_lock_mode != "COMPLIANCE":
                raise RuleViolation(
                    "prod-evidence-retention",
                    "retention.evidence_lock_mode: prod evidence is locked in COMPLIANCE mode (allowed: COMPLIANCE)",
                )
        if self.approval.required and self.approval.approvers_role_arn is None:
            raise RuleViolation("approval-role", "approval.approvers_role_arn: required when approval.required is true")
        allowed_source = {"dev": "synthetic", "staging": "masked", "prod": "production"}[self.name]
        if self.data.source != allowed_source and not (self.name == "staging" and self.data.source == "synthetic"):
            raise RuleViolation(
                "data-policy",
                f"data.source: {self.name} may not hold {self.data.source!r} data "
                f"(allowed: {allowed_source!r}{' or synthetic' if self.name == 'staging' else ''}); "
                "production data never reaches a lower environment",
            )
        return self


class IntegrationNetwork(_Frozen):
    """Subnets in the tooling account routed to staging's MSK/Snowflake endpoints (TGW or shared VPC)."""

    vpc_id: VpcId
    subnet_ids: tuple[SubnetId, ...] = Field(min_length=1)
    availability_zones: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_zone_per_subnet(self) -> IntegrationNetwork:
        if len(self.subnet_ids) != len(self.availability_zones):
            raise ValueError("availability_zones must list one zone per subnet in subnet_ids")
        return self


class ApproverIdentity(_Frozen):
    """Who may assume the approvers role (approval.approvers_role_arn), which the delivery audit stack creates.

    account: IAM users of the delivery account, with MFA; saml: the SAML provider's federated users;
    identity-center: the given permission set's IAM Identity Center role. Every session must carry
    sts:SourceIdentity (the person) as the identity source asserts it: the IAM user's own name, the
    SAML assertion's SourceIdentity attribute, or the Identity Center session tag `approver_tag`
    (an attribute for access control, e.g. ${path:userName}); never a name the caller picks.
    """

    source: Literal["account", "saml", "identity-center"] = "account"
    saml_provider_arn: str | None = Field(default=None, pattern=r"^arn:aws:iam::\d{12}:saml-provider/[\w.-]+$")
    permission_set: str | None = Field(default=None, pattern=r"^[\w+=,.@-]{1,32}$")
    approver_tag: str = Field(default="approver-name", pattern=r"^[\w+=,.@:/-]{1,128}$")

    @model_validator(mode="after")
    def _source_settings(self) -> ApproverIdentity:
        if (self.source == "saml") != (self.saml_provider_arn is not None):
            raise ValueError("saml_provider_arn: required with source 'saml' and only allowed with it")
        if (self.source == "identity-center") != (self.permission_set is not None):
            raise ValueError("permission_set: required with source 'identity-center' and only allowed with it")
        return self


class SourceProvider(_Frozen):
    """The source provider's REST API, which the trusted ChangeEvidence step asks who authored, reviewed,
    merged and pushed each commit. The token (read-only: contents, pull requests, metadata) is a
    Secrets Manager secret of the delivery account; only the ChangeEvidence project may read it."""

    api_url: str = Field(default="https://api.github.com", pattern=r"^https://[A-Za-z0-9.-]+(?::\d+)?(?:/[\w./-]*)?$")
    token_secret_arn: str = Field(
        pattern=r"^arn:aws:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+-[A-Za-z0-9]{6}$",
        description="complete ARN (with the 6-character suffix Secrets Manager adds)",
    )


class DeliveryConfig(_Frozen):
    """The delivery pipeline: where it lives, what it watches, who approves."""

    account: AccountId
    region: AwsRegion
    connection_arn: str = Field(
        pattern=r"^arn:aws:(codestar-connections|codeconnections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]{36}$"
    )
    repository: str = Field(pattern=r"^[\w.-]+/[\w.-]+$")
    branch: str = Field(min_length=1)
    source_provider: SourceProvider
    notification_emails: tuple[Email, ...] = Field(min_length=1)
    integration_network: IntegrationNetwork
    audit_trail: AuditTrail = AuditTrail()
    approver_identity: ApproverIdentity = ApproverIdentity()
    functions: Functions = Functions()
    # A fixed name, because operators and the rollback command address the pipeline by it.
    pipeline_name: str = Field(default="data-platform-delivery", pattern=r"^[A-Za-z0-9.@_-]{1,100}$")
    # CDK bootstrap qualifier of the target accounts (cdk bootstrap --qualifier); default "hnb659fds".
    bootstrap_qualifier: str = Field(default="hnb659fds", pattern=r"^[a-z0-9]{1,10}$")

    @model_validator(mode="after")
    def _token_in_this_account(self) -> DeliveryConfig:
        arn = self.source_provider.token_secret_arn.split(":")
        if (arn[3], arn[4]) != (self.region, self.account):
            raise ValueError(
                f"source_provider.token_secret_arn must be a secret of the delivery account {self.account} in "
                f"{self.region} (got {arn[4]} in {arn[3]}): only the ChangeEvidence project there reads it"
            )
        return self


def shared_identity_problems(
    environments: tuple[EnvironmentConfig, ...] | list[EnvironmentConfig],
) -> list[tuple[str, str]]:
    """(environment, problem) for a name mapped to two e-mails across environments: one guard serves them all."""
    owners: dict[str, tuple[str, str]] = {}
    problems: list[tuple[str, str]] = []
    for env in environments:
        for email, names in env.approval.identity_aliases.items():
            for name in names:
                owner = owners.setdefault(name.lower(), (env.name, email))
                if owner[1] != email:
                    problems.append(
                        (
                            env.name,
                            f"{name!r} is {owner[1]!r} in {owner[0]} but {email!r} in {env.name}: one name, one person",
                        )
                    )
    return problems


class PlatformConfig(_Frozen):
    delivery: DeliveryConfig
    environments: tuple[EnvironmentConfig, ...]

    @model_validator(mode="after")
    def _cross_environment_rules(self) -> PlatformConfig:
        names = tuple(env.name for env in self.environments)
        if names != ENVIRONMENT_ORDER:
            raise ValueError(f"environments must be exactly {', '.join(ENVIRONMENT_ORDER)} in that order, got {names}")
        by_name = {env.name: env for env in self.environments}
        prod = by_name["prod"]
        for lower in ("dev", "staging"):
            if by_name[lower].account == prod.account:
                raise ValueError(
                    f"{lower}.account equals prod.account ({prod.account}): lower environments live in "
                    "their own accounts so that they can never read production data"
                )
        for _, problem in shared_identity_problems(self.environments):
            raise ValueError(f"approval.identity_aliases: {problem}")
        return self

    def identity_aliases(self) -> dict[str, list[str]]:
        """The approval guard's alias map: every gated environment's, merged (one guard serves them all)."""
        merged: dict[str, list[str]] = {}
        for env in self.environments:
            if env.approval.required:
                for email, names in env.approval.identity_aliases.items():
                    merged.setdefault(email, [])
                    merged[email] += [n for n in names if n not in merged[email]]
        return merged

    def environment(self, name: str) -> EnvironmentConfig:
        for env in self.environments:
            if env.name == name:
                return env
        raise KeyError(f"no environment named {name!r} (allowed: {', '.join(ENVIRONMENT_ORDER)})")
