from cicd.readiness.rules.kms_key_allows_every_service_that_encrypts_with_it import (
    KmsKeyAllowsEveryServiceThatEncryptsWithIt,
)

RULE = KmsKeyAllowsEveryServiceThatEncryptsWithIt()


def test_keys_without_statements_for_the_logs_trails_and_alarms_that_use_them_are_found(fixtures):
    findings = fixtures.run(RULE, "bad")

    assert sorted((f.stack, f.logical_id, f.subject) for f in findings) == [
        ("DeliveryAudit", "TrailKey", "cloudtrail.amazonaws.com"),
        ("DeliveryAudit", "TrailKey", "logs.eu-west-1.amazonaws.com"),
        ("DeliveryPipeline/Dev/Monitoring", "AlarmsKey", "cloudwatch.amazonaws.com"),
        ("DeliveryPipeline/Dev/Storage", "DataKey", "cloudtrail.amazonaws.com"),
    ]
    cross_stack = next(f for f in findings if f.logical_id == "DataKey")
    assert "may not kms:DescribeKey with this key" in cross_stack.message  # GenerateDataKey* it may
    assert "DeliveryPipeline/Dev/Audit/EnvironmentTrail" in cross_stack.message  # the user, found through the import
    assert all(f.rule == "KmsKeyAllowsEveryServiceThatEncryptsWithIt" and f.fix for f in findings)


def test_keys_that_let_every_service_using_them_in_pass(fixtures):
    assert fixtures.run(RULE, "good") == []
