"""The delivery account's audit stack: the approval guard gets its identity alias map from config."""

import json

import aws_cdk as cdk

from stacks.delivery_audit_stack import DeliveryAuditStack


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
        break_glass=[],
        trail_mode="create",
        organization_trail_arn=None,
        alarm_emails=["oncall@example.com"],
        identity_aliases=config.identity_aliases(),
    )
    functions = cdk.assertions.Template.from_stack(stack).find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "pipeline_assets.approval_guard.handler.handler"}}
    )
    [guard] = functions.values()

    aliases = json.loads(guard["Properties"]["Environment"]["Variables"]["IDENTITY_ALIASES"])
    assert aliases == config.identity_aliases()
    assert aliases["bob@example.com"] == ["bob@example.com", "bito"]
