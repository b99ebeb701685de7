from cicd.readiness.rules.iam_grant_names_a_resource_its_action_applies_to import (
    IamGrantNamesAResourceItsActionAppliesTo,
)

RULE = IamGrantNamesAResourceItsActionAppliesTo()


def test_get_pipeline_state_on_an_action_arn_and_put_metric_data_on_a_named_resource_are_found(fixtures):
    findings = {f.subject: f for f in fixtures.run(RULE, "bad")}

    assert sorted(findings) == ["cloudwatch:PutMetricData", "codepipeline:GetPipelineState"]
    state = findings["codepipeline:GetPipelineState"]
    assert state.logical_id == "AutoApproveRole"
    assert "(of type action)" in state.message and "acts on pipeline" in state.message
    assert "'*' (no resource)" in findings["cloudwatch:PutMetricData"].message


def test_grants_on_resources_of_the_types_their_actions_act_on_pass(fixtures):
    # PutApprovalResult on the action ARN is right; wildcard and token ARNs are not judged.
    assert fixtures.run(RULE, "good") == []
