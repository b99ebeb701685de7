from cicd.readiness.rules.topic_allows_its_publishers import TopicAllowsItsPublishers

RULE = TopicAllowsItsPublishers()


def test_a_topic_policy_without_cloudwatch_and_a_default_policy_with_an_eventbridge_publisher_are_found(fixtures):
    findings = fixtures.run(RULE, "bad")

    assert sorted((f.logical_id, f.subject) for f in findings) == [
        ("EvidenceAlarmsPolicy", "cloudwatch.amazonaws.com"),  # TLS deny only: the alarm is refused
        ("Releases", "events.amazonaws.com"),  # no topic policy: the default one does not admit EventBridge
    ]
    assert (
        "DeliveryAudit/LedgerGapAlarm" in findings[0].message or "DeliveryAudit/LedgerGapAlarm" in findings[1].message
    )
    assert all("sns:Publish" in f.fix for f in findings)


def test_topics_whose_policies_admit_every_publishing_service_pass(fixtures):
    assert fixtures.run(RULE, "good") == []
