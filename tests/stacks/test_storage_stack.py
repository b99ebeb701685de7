"""Storage: one key, six buckets, secure defaults everywhere, retained and pinned where it matters."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

from stacks.storage_stack import PINNED_IDS

DATA_BUCKETS = ("DagBucket", "ReleaseBucket", "RawBucket", "CheckpointBucket", "EvidenceBucket")
ALL_BUCKETS = ("AccessLogBucket", *DATA_BUCKETS)


def resources(template, kind):
    return template.find_resources(kind)


def test_resource_counts(synth):
    template = synth.template("dev", "Storage")
    template.resource_count_is("AWS::KMS::Key", 1)
    template.resource_count_is("AWS::S3::Bucket", 6)
    template.resource_count_is("AWS::S3::BucketPolicy", 6)


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_stateful_logical_ids_are_pinned(synth, env):
    template = synth.template(env, "Storage").to_json()["Resources"]
    assert template["DataKey"]["Type"] == "AWS::KMS::Key"
    for logical_id in PINNED_IDS[1:]:
        assert template[logical_id]["Type"] == "AWS::S3::Bucket", logical_id
    assert set(PINNED_IDS) == {"DataKey", *ALL_BUCKETS}


def test_every_bucket_blocks_public_access_and_is_versioned(synth):
    buckets = resources(synth.template("dev", "Storage"), "AWS::S3::Bucket")
    for logical_id, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, logical_id
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}, logical_id
        assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}], logical_id


def test_data_buckets_use_the_data_key_and_log_to_the_log_bucket(synth):
    buckets = resources(synth.template("dev", "Storage"), "AWS::S3::Bucket")
    for logical_id in DATA_BUCKETS:
        props = buckets[logical_id]["Properties"]
        default = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert default["ServerSideEncryptionByDefault"] == {
            "KMSMasterKeyID": {"Fn::GetAtt": ["DataKey", "Arn"]},
            "SSEAlgorithm": "aws:kms",
        }, logical_id
        assert default["BucketKeyEnabled"] is True
        assert props["LoggingConfiguration"] == {
            "DestinationBucketName": {"Ref": "AccessLogBucket"},
            "LogFilePrefix": f"{logical_id}/",
        }
    # S3 log delivery cannot write SSE-KMS targets: the log bucket alone is SSE-S3.
    log_bucket = buckets["AccessLogBucket"]["Properties"]
    encryption = log_bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert encryption["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert "LoggingConfiguration" not in log_bucket


def test_every_bucket_denies_plain_http_and_old_tls(synth):
    template = synth.template("dev", "Storage")
    policies = resources(template, "AWS::S3::BucketPolicy")
    covered = set()
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        conditions = [s["Condition"] for s in statements if s["Effect"] == "Deny" and "Condition" in s]
        assert {"Bool": {"aws:SecureTransport": "false"}} in conditions
        assert {"NumericLessThan": {"s3:TlsVersion": 1.2}} in conditions
        covered.add(policy["Properties"]["Bucket"]["Ref"])
    assert covered == set(ALL_BUCKETS)


def test_the_key_rotates_and_lets_only_this_accounts_logs_use_it(synth, config):
    env = config.environment("dev")
    template = synth.template("dev", "Storage")
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    key_policy = resources(template, "AWS::KMS::Key")["DataKey"]["Properties"]["KeyPolicy"]["Statement"]
    logs_statement = next(s for s in key_policy if s.get("Sid") == "AllowCloudWatchLogsOfThisAccount")
    assert logs_statement["Principal"] == {"Service": f"logs.{env.region}.amazonaws.com"}
    assert logs_statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"] == {
        "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":logs:{env.region}:{env.account}:*"]]
    }


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_protected_environments_retain_everything_and_request_termination_protection(synth, env):
    stage = synth.stage(env)
    assert stage.storage.termination_protection is True
    template = synth.template(env, "Storage").to_json()["Resources"]
    for logical_id in PINNED_IDS:
        assert template[logical_id]["DeletionPolicy"] == "Retain", logical_id
        assert template[logical_id]["UpdateReplacePolicy"] == "Retain", logical_id


def test_dev_can_be_torn_down_except_its_evidence(synth):
    assert synth.stage("dev").storage.termination_protection is False
    template = synth.template("dev", "Storage").to_json()["Resources"]
    assert template["RawBucket"]["DeletionPolicy"] == "Delete"
    assert template["EvidenceBucket"]["DeletionPolicy"] == "Retain"


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_a_retained_resource_is_never_encrypted_with_a_key_deleted_with_the_stack(synth, env, cfn):
    # Fails on 9cf02fd: dev deleted its DataKey with the stack while keeping the evidence it encrypts.
    template = synth.template(env, "Storage").to_json()["Resources"]
    keys = {logical_id for logical_id, r in template.items() if r["Type"] == "AWS::KMS::Key"}
    for logical_id, resource in template.items():
        if resource.get("DeletionPolicy") != "Retain":
            continue
        for key in keys:
            if f'"{key}"' in cfn.rendered(resource.get("Properties", {})):
                assert template[key]["DeletionPolicy"] == "Retain", f"{logical_id} outlives its key {key}"
                assert template[key]["UpdateReplacePolicy"] == "Retain", f"{logical_id} outlives its key {key}"


def test_lifecycle_follows_the_configured_retention(synth, config):
    for env in ("dev", "prod"):
        retention = config.environment(env).retention
        buckets = resources(synth.template(env, "Storage"), "AWS::S3::Bucket")
        rules = {
            name: {rule["Id"]: rule for rule in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}
            for name, bucket in buckets.items()
        }
        assert rules["RawBucket"]["ExpireRawLanding"]["ExpirationInDays"] == retention.raw_landing_days
        release_rules = rules["ReleaseBucket"]
        assert release_rules["ExpireOldVersions"]["NoncurrentVersionExpiration"] == {
            "NoncurrentDays": retention.release_artifact_days
        }
        # Current release objects never expire: any of them can be the target of a rollback.
        assert not any("ExpirationInDays" in rule for rule in release_rules.values())
        assert rules["AccessLogBucket"]["ExpireAccessLogs"]["ExpirationInDays"] == retention.log_days
        for name, bucket_rules in rules.items():
            assert bucket_rules["AbortIncompleteUploads"]["AbortIncompleteMultipartUpload"] == {
                "DaysAfterInitiation": 7
            }, name


def test_the_evidence_bucket_is_created_with_object_lock(synth):
    synth.template("dev", "Storage").has_resource(
        "AWS::S3::Bucket", {"Properties": Match.object_like({"ObjectLockEnabled": True}), "DeletionPolicy": "Retain"}
    )


def test_outputs_name_the_buckets_and_key(synth):
    outputs = synth.template("dev", "Storage").to_json()["Outputs"]
    assert outputs["ReleaseBucketName"]["Value"] == {"Ref": "ReleaseBucket"}
    assert outputs["DagBucketName"]["Value"] == {"Ref": "DagBucket"}
    assert outputs["DataKeyArn"]["Value"] == {"Fn::GetAtt": ["DataKey", "Arn"]}


def test_checkpoint_snapshots_expire(synth):
    from aws_cdk import assertions

    synth.template("dev", "Storage").has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": {
                "Rules": assertions.Match.array_with(
                    [assertions.Match.object_like({"Id": "ExpireCheckpointSnapshots", "Prefix": "_snapshots/"})]
                )
            }
        },
    )


@pytest.mark.parametrize(("env", "mode"), [("dev", "GOVERNANCE"), ("prod", "COMPLIANCE")])
def test_the_evidence_bucket_locks_by_default_for_the_configured_retention(synth, config, env, mode):
    bucket = resources(synth.template(env, "Storage"), "AWS::S3::Bucket")["EvidenceBucket"]["Properties"]
    days = config.environment(env).retention.evidence_years * 366
    assert bucket["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": mode, "Days": days}},
    }


def test_nobody_may_delete_evidence_or_change_its_lock(synth):
    template = synth.template("prod", "Storage")
    [policy] = [
        p
        for p in template.find_resources("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": "EvidenceBucket"}
    ]
    denied = set()
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        if statement["Effect"] == "Deny" and statement["Principal"] == {"AWS": "*"} and "Condition" not in statement:
            denied |= set(statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
    assert denied >= {
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:PutBucketObjectLockConfiguration",
        "s3:PutObjectRetention",
        "s3:BypassGovernanceRetention",
    }
