from cicd.readiness.rules.condition_rule_role_is_assumable import ConditionRuleRoleIsAssumable

RULE = ConditionRuleRoleIsAssumable()


def test_a_bake_role_the_pipeline_may_not_assume_that_does_not_trust_it_or_cannot_read_the_alarm_is_found(fixtures):
    findings = fixtures.run(RULE, "bad")

    assert {(f.stack, f.logical_id) for f in findings} == {("DeliveryPipeline", "Pipeline")}
    messages = sorted(f.message for f in findings)
    assert len(messages) == 3
    assert all("OnSuccess rule ReleaseHealthBake of stage Prod" in m for m in messages)
    assert any("may not sts:AssumeRole on it" in m for m in messages)
    assert any("admits neither the pipeline role nor account 111111111111" in m for m in messages)
    assert any("may not cloudwatch:DescribeAlarms on alarm data-platform-prod-release-health" in m for m in messages)
    assert {f.subject for f in findings} == {"arn:aws:iam::444444444444:role/data-platform-prod-release-health-reader"}


def test_bake_roles_the_pipeline_assumes_that_trust_it_and_read_their_alarm_pass(fixtures):
    assert fixtures.run(RULE, "good") == []
