import argparse

import boto3
from botocore.stub import Stubber

from cicd.changeset.cli import cmd_review
from cicd.changeset.review import review


def change(logical_id, resource_type, action="Modify", replacement="False", recreation=None, name=None):
    details = []
    if recreation:
        details.append({"Target": {"Attribute": "Properties", "Name": name, "RequiresRecreation": recreation}})
    return {
        "Type": "Resource",
        "ResourceChange": {
            "Action": action,
            "LogicalResourceId": logical_id,
            "ResourceType": resource_type,
            "Replacement": replacement,
            "Details": details,
        },
    }


def stubbed(pages):
    cfn = boto3.client("cloudformation", region_name="eu-west-1")
    stubber = Stubber(cfn)
    for i, page in enumerate(pages):
        expected = {"StackName": "Prod-Storage", "ChangeSetName": "PipelineChange"}
        if i:
            expected["NextToken"] = f"t{i}"
        response = {"Changes": page}
        if i < len(pages) - 1:
            response["NextToken"] = f"t{i + 1}"
        stubber.add_response("describe_change_set", response, expected)
    stubber.activate()
    return cfn, stubber


def test_in_place_updates_and_stateless_replacements_pass():
    cfn, stubber = stubbed(
        [[change("DagBucket", "AWS::S3::Bucket"), change("Fn", "AWS::Lambda::Function", replacement="True")]]
    )
    assert review(cfn, "Prod-Storage", "PipelineChange") == []
    stubber.assert_no_pending_responses()


def test_bucket_replacement_and_key_removal_are_rejected_across_pages():
    cfn, stubber = stubbed(
        [
            [change("RawBucket", "AWS::S3::Bucket", replacement="True", recreation="Always", name="BucketName")],
            [change("DataKey", "AWS::KMS::Key", action="Remove")],
        ]
    )
    violations = review(cfn, "Prod-Storage", "PipelineChange")
    stubber.assert_no_pending_responses()
    assert [v.logical_id for v in violations] == ["RawBucket", "DataKey"]
    assert "BucketName changed" in str(violations[0]) and "replaced" in str(violations[0])
    assert "deleted" in str(violations[1]) and "Fix:" in str(violations[1])


def test_command_exit_code_and_message(capsys):
    cfn, _ = stubbed([[change("Env", "AWS::MWAA::Environment", replacement="Conditional")]])
    args = argparse.Namespace(stack=["Prod-Storage"], change_set="PipelineChange", role_arn=None, region="eu-west-1")
    assert cmd_review(args, cfn=cfn) == 1
    out = capsys.readouterr()
    assert "REJECTED" in out.out and "AWS::MWAA::Environment" in out.err


def test_an_evidence_retention_change_is_refused_before_it_fails_on_the_deny_everyone_policy(capsys):
    # Fails on 9cf02fd: an in-place ObjectLockConfiguration change passed the review, then failed on execution
    # (the bucket policy denies PutBucketObjectLockConfiguration to CloudFormation too) and rolled Prod-Storage back.
    retention = change("EvidenceBucket", "AWS::S3::Bucket", recreation="Never", name="ObjectLockConfiguration")
    cfn, stubber = stubbed([[retention, change("RawBucket", "AWS::S3::Bucket", recreation="Never", name="Tags")]])
    args = argparse.Namespace(stack=["Prod-Storage"], change_set="PipelineChange", role_arn=None, region="eu-west-1")

    assert cmd_review(args, cfn=cfn) == 1

    stubber.assert_no_pending_responses()
    err = capsys.readouterr().err
    assert err.startswith("changeset-review:locked-property Prod-Storage: EvidenceBucket (AWS::S3::Bucket)")
    assert "denies s3:PutBucketObjectLockConfiguration to everyone, CloudFormation included" in err
    assert "retention.evidence_years" in err and "docs/runbook.md" in err
    assert "RawBucket" not in err  # other in-place bucket changes still pass
