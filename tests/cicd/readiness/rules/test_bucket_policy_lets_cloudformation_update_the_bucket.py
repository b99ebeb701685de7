from cicd.readiness.rules.bucket_policy_lets_cloudformation_update_the_bucket import (
    BucketPolicyLetsCloudFormationUpdateTheBucket,
)

RULE = BucketPolicyLetsCloudFormationUpdateTheBucket()


def test_denying_everyone_the_lock_configuration_and_the_policy_itself_is_found(fixtures):
    findings = fixtures.run(RULE, "bad")

    assert sorted(f.subject for f in findings) == [
        "s3:DeleteBucketPolicy",
        "s3:PutBucketObjectLockConfiguration",
        "s3:PutBucketPolicy",
    ]
    assert {(f.stack, f.logical_id) for f in findings} == {("DeliveryPipeline/Dev/Storage", "EvidenceBucket")}
    lock = next(f for f in findings if f.subject == "s3:PutBucketObjectLockConfiguration")
    assert "a change to ObjectLockConfiguration fails the stack update" in lock.message


def test_a_deny_that_exempts_the_deploying_role_and_conditional_tls_denies_pass(fixtures):
    assert fixtures.run(RULE, "good") == []
