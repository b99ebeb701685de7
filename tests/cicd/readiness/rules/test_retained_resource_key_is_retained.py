from cicd.readiness.rules.retained_resource_key_is_retained import RetainedResourceKeyIsRetained

RULE = RetainedResourceKeyIsRetained()


def test_a_deleted_key_under_a_retained_bucket_and_a_retained_log_group_in_another_stack_is_found(fixtures):
    findings = fixtures.run(RULE, "bad")

    assert [(f.stack, f.logical_id) for f in findings] == [("DeliveryPipeline/Dev/Storage", "DataKey")] * 2
    assert sorted(f.subject for f in findings) == [
        "DeliveryPipeline/Dev/Audit/TrailLogs",
        "DeliveryPipeline/Dev/Storage/EvidenceBucket",
    ]
    assert "RawBucket" not in " ".join(f.message for f in findings)  # deleted with the key: nothing is lost


def test_a_key_retained_as_long_as_what_it_encrypts_passes(fixtures):
    assert fixtures.run(RULE, "good") == []
