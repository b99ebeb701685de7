"""Each environment's audit stack: a validated trail into its Object Lock bucket, stack events forwarded."""

from aws_cdk import assertions


def test_trail_has_log_file_validation_and_writes_to_the_evidence_bucket(synth):
    template = synth.template("prod", "Audit")
    template.has_resource_properties(
        "AWS::CloudTrail::Trail",
        {"EnableLogFileValidation": True, "S3KeyPrefix": "cloudtrail", "KMSKeyId": assertions.Match.any_value()},
    )


def test_stack_events_and_api_calls_go_to_the_delivery_account_bus(synth):
    template = synth.template("staging", "Audit")
    rules = template.find_resources("AWS::Events::Rule")
    assert len(rules) == 2
    for rule in rules.values():
        assert rule["Properties"]["EventPattern"]["source"] == ["aws.cloudformation"]
        [target] = rule["Properties"]["Targets"]
        assert "111111111111:event-bus/default" in str(target["Arn"])


def test_environment_evidence_bucket_has_object_lock(synth):
    synth.template("prod", "Storage").has_resource(
        "AWS::S3::Bucket", {"Properties": assertions.Match.object_like({"ObjectLockEnabled": True})}
    )


def test_integration_test_role_is_trusted_by_the_delivery_account_only(synth):
    template = synth.template("staging", "DeliveryAccess")
    [role] = template.find_resources("AWS::IAM::Role").values()
    assert role["Properties"]["RoleName"] == "data-platform-staging-integration-tests"
    [statement] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert ":iam::111111111111:root" in str(statement["Principal"]["AWS"])


def test_the_environment_data_key_lets_cloudtrail_encrypt_for_this_environments_trail(synth, config):
    account = config.environment("dev").account
    storage = synth.template("dev", "Storage").find_resources("AWS::KMS::Key")
    statements = {s.get("Sid"): s for s in storage["DataKey"]["Properties"]["KeyPolicy"]["Statement"]}
    for sid in ("AllowCloudTrailToEncryptLogs", "AllowCloudTrailToDescribeKey", "AllowCloudTrailToUseBucketKeys"):
        source = statements[sid]["Condition"]["StringEquals"]["aws:SourceArn"]
        assert f":cloudtrail:eu-west-1:{account}:trail/data-platform-dev-audit" in str(source), sid
    synth.template("dev", "Audit").has_resource_properties(
        "AWS::CloudTrail::Trail", {"TrailName": "data-platform-dev-audit"}
    )
