from cicd.readiness.rules.object_lock_bucket_retains_by_default_and_denies_deletes import (
    ObjectLockBucketRetainsByDefaultAndDeniesDeletes,
)

RULE = ObjectLockBucketRetainsByDefaultAndDeniesDeletes()


def test_a_locked_bucket_without_default_retention_or_a_deny_of_version_deletes_is_found(fixtures):
    findings = fixtures.run(RULE, "bad")

    assert [(f.stack, f.logical_id) for f in findings] == [("DeliveryPipeline/Staging/Storage", "EvidenceBucket")] * 2
    messages = " ".join(f.message for f in findings)
    assert "no default retention" in messages
    assert "does not deny s3:DeleteObjectVersion, s3:BypassGovernanceRetention to everyone" in messages


def test_a_locked_bucket_with_retention_and_deletes_denied_passes(fixtures):
    assert fixtures.run(RULE, "good") == []
