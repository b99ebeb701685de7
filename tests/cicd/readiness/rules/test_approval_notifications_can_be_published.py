from cicd.readiness.rules.approval_notifications_can_be_published import ApprovalNotificationsCanBePublished

RULE = ApprovalNotificationsCanBePublished()


def test_an_approval_role_that_may_publish_but_not_use_the_topic_key_is_found(fixtures):
    (finding,) = fixtures.run(RULE, "bad")

    assert (finding.stack, finding.logical_id) == ("DeliveryPipeline", "Pipeline")
    assert "stage ApproveProd, action PromoteToProd" in finding.message and "as ApprovalRole" in finding.message
    assert "kms:GenerateDataKey on NotificationsKey, kms:Decrypt on NotificationsKey" in finding.message
    assert "sns:Publish" not in finding.message.split("lacks")[1]  # the topic itself it may publish to


def test_approval_roles_with_the_topic_and_its_key_pass(fixtures):
    assert fixtures.run(RULE, "good") == []
