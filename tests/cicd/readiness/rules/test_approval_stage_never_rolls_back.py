from cicd.readiness.rules.approval_stage_never_rolls_back import ApprovalStageNeverRollsBack

RULE = ApprovalStageNeverRollsBack()


def test_an_approval_inside_a_stage_that_rolls_back_is_found(fixtures):
    (finding,) = fixtures.run(RULE, "bad")

    assert (finding.stack, finding.logical_id, finding.subject) == ("DeliveryPipeline", "Pipeline", "Prod")
    assert "holds approval PromoteToProd and rolls back on OnFailure, OnSuccess" in finding.message


def test_an_approval_in_a_stage_of_its_own_before_a_rolling_back_stage_passes(fixtures):
    assert fixtures.run(RULE, "good") == []
