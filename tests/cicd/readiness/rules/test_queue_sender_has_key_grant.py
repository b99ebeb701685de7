from cicd.readiness.rules.queue_sender_has_key_grant import QueueSenderHasKeyGrant

RULE = QueueSenderHasKeyGrant()


def test_a_lambda_dead_letter_sender_and_a_policy_sender_without_the_queue_key_are_found(fixtures):
    findings = fixtures.run(RULE, "bad")

    assert sorted((f.logical_id, f.stack) for f in findings) == [
        ("CanaryRole", "DeliveryPipeline/Staging/Monitoring"),
        ("ReplayRole", "DeliveryPipeline/Staging/Monitoring"),
    ]
    canary = next(f for f in findings if f.logical_id == "CanaryRole")
    assert "dead-letter queue of DeliveryPipeline/Staging/Monitoring/Canary" in canary.message
    assert "kms:GenerateDataKey, kms:Decrypt" in canary.message and "AlarmsKey" in canary.fix


def test_senders_granted_the_key_by_their_own_policy_or_by_the_key_policy_pass(fixtures):
    assert fixtures.run(RULE, "good") == []
