"""The delivery account's evidence stack on its own: ledger bucket policy, ledger rules, approvers role,
and the approval guard's identity alias map from config."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import assertions

from config import load_all
from config.model import ApproverIdentity
from pipeline_assets.approval_guard.trust_policy import unbound_statements
from pipeline_assets.ledger import layout
from stacks.delivery_audit_stack import DeliveryAuditStack, approvers_role_arns

DELIVERY = "111111111111"
ENVIRONMENTS = ["222222222222", "333333333333", "444444444444"]
APPROVERS = f"arn:aws:iam::{DELIVERY}:role/DataPlatformReleaseApprovers"
ALIASES = {"bob@example.com": ["bob@example.com", "bito"]}


DEFAULT_IDENTITY = ApproverIdentity()


def build(cfn, approver_identity: ApproverIdentity = DEFAULT_IDENTITY) -> assertions.Template:
    stack = DeliveryAuditStack(
        cfn.new_app(),
        "DeliveryAudit",
        env=cdk.Environment(account=DELIVERY, region="eu-west-1"),
        pipeline_name="data-platform-delivery",
        environment_accounts=ENVIRONMENTS,
        retention_days=2557,
        approvers=[APPROVERS],
        approver_identity=approver_identity,
        break_glass=[],
        trail_mode="create",
        organization_trail_arn=None,
        alarm_emails=["evidence-alarms@example.com"],
        identity_aliases=ALIASES,
    )
    return assertions.Template.from_stack(stack)


@pytest.fixture(scope="module")
def template(cfn) -> assertions.Template:
    return build(cfn)


def bucket_statements(template) -> dict[str, dict]:
    [policy] = [
        p
        for p in template.find_resources("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": "EvidenceBucket"}
    ]
    return {s.get("Sid", ""): s for s in policy["Properties"]["PolicyDocument"]["Statement"]}


def key_statements(template) -> dict[str, dict]:
    [key] = template.find_resources("AWS::KMS::Key").values()
    return {s.get("Sid", ""): s for s in key["Properties"]["KeyPolicy"]["Statement"]}


# Item 2: the trail's key.
def test_cloudtrail_uses_the_evidence_key_for_its_own_trail_only(template):
    statements = key_statements(template)
    for sid in ("AllowCloudTrailToEncryptLogs", "AllowCloudTrailToDescribeKey", "AllowCloudTrailToUseBucketKeys"):
        source = statements[sid]["Condition"]["StringEquals"]["aws:SourceArn"]
        assert f":cloudtrail:eu-west-1:{DELIVERY}:trail/data-platform-delivery-audit" in json.dumps(source), sid
    unconditioned = [
        s
        for s in statements.values()
        if "cloudtrail.amazonaws.com" in json.dumps(s.get("Principal")) and "Condition" not in s
    ]
    assert unconditioned == []


# Item 16a: create-only ledger writes.
def test_ledger_writes_without_if_none_match_are_denied_to_everyone(template):
    statement = bucket_statements(template)["LedgerWritesAreCreateOnly"]
    assert statement["Effect"] == "Deny" and statement["Principal"] == {"AWS": "*"}
    assert statement["Action"] == "s3:PutObject"
    assert statement["Condition"] == {"Null": {"s3:if-none-match": "true"}}
    assert statement["Resource"] == {"Fn::Join": ["", [{"Fn::GetAtt": ["EvidenceBucket", "Arn"]}, "/ledger/*"]]}


def test_the_ledger_bucket_denies_deletes_and_retention_changes_outside_the_writers_prefix(template):
    statements = bucket_statements(template)
    assert "s3:DeleteObjectVersion" in statements["EvidenceIsNeverDeleted"]["Action"]
    assert statements["EvidenceLockIsNeverChanged"]["Action"] == "s3:PutBucketObjectLockConfiguration"
    retention = statements["EvidenceRetentionIsNeverChanged"]
    assert retention["NotResource"] == [
        {"Fn::Join": ["", [{"Fn::GetAtt": ["EvidenceBucket", "Arn"]}, "/ledger/*"]]},
        {"Fn::Join": ["", [{"Fn::GetAtt": ["EvidenceBucket", "Arn"]}, f"/{layout.TRUST_BOUNDARY_PREFIX}*"]]},
    ]


# Items 16c and 16d: the rules feeding the ledger.
def test_every_ledger_rule_filters_on_the_accounts_it_expects(template):
    rules = {
        rule["Properties"]["EventPattern"]["source"][0]
        + ":"
        + str(rule["Properties"]["EventPattern"]["detail-type"]): rule
        for rule in template.find_resources("AWS::Events::Rule").values()
    }
    assert len(rules) == 5
    for name, rule in rules.items():
        accounts = rule["Properties"]["EventPattern"]["account"]
        if name.startswith("aws.cloudformation"):
            assert accounts == sorted([DELIVERY, *ENVIRONMENTS]), name
        else:
            assert accounts == [DELIVERY], name


def test_every_ledger_rule_retries_then_dead_letters_to_an_encrypted_alarmed_queue(template):
    queues = template.find_resources("AWS::SQS::Queue")
    [(queue_id, queue)] = queues.items()
    assert "KmsMasterKeyId" in queue["Properties"]
    for rule in template.find_resources("AWS::Events::Rule").values():
        [target] = rule["Properties"]["Targets"]
        assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue_id, "Arn"]}}
        assert target["RetryPolicy"] == {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 86400}
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}],
            "Threshold": 1,
            "AlarmActions": assertions.Match.any_value(),
        },
    )
    events_may_encrypt = key_statements(template)["AllowEventBridgeDeadLettersOfThisAccount"]
    assert events_may_encrypt["Principal"] == {"Service": "events.amazonaws.com"}
    assert sorted(events_may_encrypt["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]


# Item 9: the approvers role.
def approvers_role(template) -> dict:
    [role] = [
        r
        for r in template.find_resources("AWS::IAM::Role").values()
        if r["Properties"].get("RoleName") == "DataPlatformReleaseApprovers"
    ]
    return role["Properties"]


def trusted_actions(statements: list[dict]) -> set[str]:
    return {action for s in statements for action in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}


def test_the_approvers_role_is_created_with_no_permissions_of_its_own(template):
    role = approvers_role(template)
    assert "ManagedPolicyArns" not in role and "Policies" not in role
    assert role["MaxSessionDuration"] == 3600
    for policy in template.find_resources("AWS::IAM::Policy").values():
        assert "DataPlatformReleaseApprovers" not in json.dumps(policy["Properties"].get("Roles", []))


def test_by_default_only_mfa_sessions_of_the_delivery_account_naming_a_person_may_assume_it(template):
    statements = approvers_role(template)["AssumeRolePolicyDocument"]["Statement"]
    assert trusted_actions(statements) == {"sts:AssumeRole", "sts:SetSourceIdentity"}
    for statement in statements:
        assert f":iam::{DELIVERY}:root" in json.dumps(statement["Principal"])
        assert statement["Condition"] == {
            "Null": {"sts:SourceIdentity": "false"},
            "StringEquals": {"sts:SourceIdentity": "${aws:username}"},
            "Bool": {"aws:MultiFactorAuthPresent": "true"},
        }


def test_an_iam_user_can_only_name_themselves_as_the_source_identity(template):
    """Issue 17 #3: `assume-role --source-identity bob@...` by alice is refused: her SourceIdentity must be her
    own user name. The guard believes a SourceIdentity only from a trust policy that binds it."""
    document = approvers_role(template)["AssumeRolePolicyDocument"]
    for statement in document["Statement"]:
        assert statement["Condition"]["StringEquals"] == {"sts:SourceIdentity": "${aws:username}"}
    assert unbound_statements(document) == []


@pytest.mark.parametrize(
    ("identity", "principal", "condition"),
    [
        (
            ApproverIdentity(source="saml", saml_provider_arn=f"arn:aws:iam::{DELIVERY}:saml-provider/Okta"),
            {"Federated": f"arn:aws:iam::{DELIVERY}:saml-provider/Okta"},
            {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}},
        ),
        (
            ApproverIdentity(source="identity-center", permission_set="ReleaseApprovers"),
            None,
            {
                "ArnLike": {"aws:PrincipalArn": assertions.Match.any_value()},
                # The person as Identity Center asserts them (a session tag), never a name the caller picks.
                "StringEquals": {"sts:SourceIdentity": "${aws:PrincipalTag/approver-name}"},
            },
        ),
    ],
    ids=["saml", "identity-center"],
)
def test_other_identity_sources_are_trusted_alone_and_still_need_a_source_identity(cfn, identity, principal, condition):
    statements = approvers_role(build(cfn, identity))["AssumeRolePolicyDocument"]["Statement"]
    assert "sts:SetSourceIdentity" in trusted_actions(statements)
    for statement in statements:
        if principal is not None:
            assert statement["Principal"] == principal
        assert statement["Condition"]["Null"] == {"sts:SourceIdentity": "false"}
        for key, value in condition.items():
            assert key in statement["Condition"]
            if key == "ArnLike":
                assert "AWSReservedSSO_ReleaseApprovers_*" in json.dumps(statement["Condition"][key])
            else:
                assert statement["Condition"][key] == value


def test_the_configured_approvers_arn_is_the_role_this_stack_creates(template):
    config = load_all()
    [arn] = approvers_role_arns(config)
    account, name = arn.split(":")[4], arn.rsplit("/", 1)[1]
    assert account == config.delivery.account
    assert approvers_role(template)["RoleName"] == name


def test_an_approvers_role_outside_the_delivery_account_is_refused_with_the_file_and_fix():
    config = load_all()
    prod = config.environment("prod")
    moved = prod.model_copy(
        update={"approval": prod.approval.model_copy(update={"approvers_role_arn": "arn:aws:iam::999999999999:role/X"})}
    )
    broken = config.model_copy(update={"environments": (*config.environments[:2], moved)})
    refused = r"config/prod\.yaml: approval\.approvers_role_arn .* delivery account 111111111111"
    with pytest.raises(ValueError, match=refused + r".*fix: arn:aws:iam::111111111111:role/<name>"):
        approvers_role_arns(broken)


def test_guard_lambda_gets_the_configured_identity_aliases(config, cfn):
    app = cfn.new_app()
    stack = DeliveryAuditStack(
        app,
        "DeliveryAudit",
        env=cdk.Environment(account="111111111111", region="eu-west-1"),
        pipeline_name="data-platform-delivery",
        environment_accounts=[env.account for env in config.environments],
        retention_days=2557,
        approvers=["arn:aws:iam::111111111111:role/DataPlatformReleaseApprovers"],
        approver_identity=config.delivery.approver_identity,
        break_glass=[],
        trail_mode="create",
        organization_trail_arn=None,
        alarm_emails=["oncall@example.com"],
        identity_aliases=config.identity_aliases(),
    )
    functions = assertions.Template.from_stack(stack).find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "pipeline_assets.approval_guard.handler.handler"}}
    )
    [guard] = functions.values()

    aliases = json.loads(guard["Properties"]["Environment"]["Variables"]["IDENTITY_ALIASES"])
    assert aliases == config.identity_aliases()
    assert aliases["bob@example.com"] == ["bob@example.com", "bito", "github:1002"]


def test_ledger_readers_may_list_versions_to_detect_tampering(template):
    listing = [
        s
        for policy in template.find_resources("AWS::IAM::Policy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "ListEvidence"
    ]
    assert len(listing) == 3  # the ledger writer, the approval guard and the trust-boundary check read records
    for statement in listing:
        assert statement["Action"] == ["s3:ListBucket", "s3:ListBucketVersions"]


def roles_tagged(template, value: str) -> list[str]:
    return [
        logical_id
        for logical_id, role in template.find_resources("AWS::IAM::Role").items()
        if {"Key": layout.WRITER_TAG, "Value": value} in role["Properties"].get("Tags", [])
    ]


@pytest.mark.parametrize(
    ("prefix", "writer"),
    [
        (layout.CHANGE_EVIDENCE_PREFIX, layout.CHANGE_EVIDENCE_WRITER),
        (layout.TRUST_BOUNDARY_PREFIX, layout.TRUST_BOUNDARY_WRITER),
    ],
)
def test_each_trusted_evidence_prefix_is_writable_only_by_its_tagged_step(template, prefix, writer):
    """Issue 17 #10: a build role granted s3:PutObject on the bucket still cannot write trusted evidence."""
    denies = [
        s
        for s in bucket_statements(template).values()
        if s["Effect"] == "Deny" and s["Action"] == "s3:PutObject" and f"/{prefix}*" in json.dumps(s["Resource"])
    ]
    assert len(denies) == 1 and denies[0]["Principal"] == {"AWS": "*"}
    assert denies[0]["Condition"] == {"StringNotEquals": {f"aws:PrincipalTag/{writer[0]}": writer[1]}}
    create_only = bucket_statements(template)["TrustedEvidenceIsCreateOnly"]
    assert create_only["Condition"] == {"Null": {"s3:if-none-match": "true"}}
    assert f"/{layout.TRUSTED_PREFIX}*" in json.dumps(create_only["Resource"])


def test_the_trust_boundary_check_is_the_one_tagged_writer_of_its_prefix_and_reads_the_deployed_templates(template):
    [check_role] = roles_tagged(template, layout.TRUST_BOUNDARY_WRITER[1])
    assert roles_tagged(template, layout.CHANGE_EVIDENCE_WRITER[1]) == []  # that writer lives in the pipeline stack
    [function] = [
        f["Properties"]
        for f in template.find_resources("AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "pipeline_assets.trust_boundary_check.handler.handler"
    ]
    assert function["Environment"]["Variables"]["BOUNDARY_STACKS"] == "DeliveryPipeline,DeliveryAudit"
    assert check_role in json.dumps(function["Role"])
    statements = [
        s
        for p in template.find_resources("AWS::IAM::Policy").values()
        if check_role in json.dumps(p["Properties"]["Roles"])
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    [get_template] = [s for s in statements if s["Action"] == "cloudformation:GetTemplate"]
    assert get_template["Resource"] == [
        f"arn:aws:cloudformation:eu-west-1:{DELIVERY}:stack/DeliveryPipeline/*",
        f"arn:aws:cloudformation:eu-west-1:{DELIVERY}:stack/DeliveryAudit/*",
    ] or "Fn::Join" in json.dumps(get_template["Resource"])
    writes = [s for s in statements if "s3:PutObject" in json.dumps(s["Action"])]
    assert len(writes) == 1 and f"/{layout.TRUST_BOUNDARY_PREFIX}*" in json.dumps(writes[0]["Resource"])


def test_the_guard_may_read_the_approvers_roles_trust_and_the_approval_token_and_nothing_wider(template):
    guard_statements = {
        s.get("Sid"): s
        for p in template.find_resources("AWS::IAM::Policy").values()
        if "ApprovalGuard" in json.dumps(p["Properties"]["Roles"])
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    }
    assert guard_statements["ReadApproverTrust"]["Action"] == "iam:GetRole"
    assert guard_statements["ReadApproverTrust"]["Resource"] == APPROVERS
    assert guard_statements["ReadApprovalToken"]["Action"] == "codepipeline:GetPipelineState"
    assert guard_statements["ReadChangeEvidence"]["Action"] == ["s3:GetObject", "s3:GetObjectVersion"]
    assert f"/{layout.CHANGE_EVIDENCE_PREFIX}*" in json.dumps(guard_statements["ReadChangeEvidence"]["Resource"])


def test_the_evidence_alarms_reach_their_topic_through_its_policy_and_key(template, cfn):
    # Fails on 9cf02fd: the evidence-alarms topic had only the TLS deny, so its alarms were never delivered.
    assert cfn.alarm_delivery_problems(template.to_json()) == []
