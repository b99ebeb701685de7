from cicd.readiness.rules.bake_alarm_judges_only_data_the_release_produced import (
    BakeAlarmJudgesOnlyDataTheReleaseProduced,
)

RULE = BakeAlarmJudgesOnlyDataTheReleaseProduced()


def test_a_nested_member_breaching_on_missing_data_and_a_bake_on_a_missing_alarm_are_found(fixtures):
    findings = {f.logical_id: f for f in fixtures.run(RULE, "bad")}

    assert sorted(findings) == ["CanaryMissing", "Pipeline"]
    member = findings["CanaryMissing"]
    assert member.stack == "DeliveryPipeline/Staging/Monitoring"
    assert "(Health -> Nested -> CanaryMissing)" in member.message and "stage Staging" in member.message
    assert "'data-platform-staging-releasehealth'" in findings["Pipeline"].message
    assert "no stack of the assembly creates" in findings["Pipeline"].message


def test_bakes_on_existing_alarms_whose_members_ignore_missing_data_pass(fixtures):
    # The Heartbeat alarm breaches on missing data too, but no bake watches it.
    assert fixtures.run(RULE, "good") == []
