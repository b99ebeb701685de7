"""Loading a cloud assembly and resolving values across stacks, stages and accounts."""

import json

import pytest

from cicd.readiness.assembly import Assembly, AssemblyError, Resource

ROLE = {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "reader", "AssumeRolePolicyDocument": {}}}


def spec():
    return {
        "stacks": [
            {
                "path": "Storage",
                "account": "222222222222",
                "resources": {"Key": {"Type": "AWS::KMS::Key", "Properties": {}}, "Reader": ROLE},
                "outputs": {
                    "KeyArn": {
                        "Value": {"Fn::GetAtt": ["Key", "Arn"]},
                        "Export": {"Name": {"Fn::Join": [":", [{"Ref": "AWS::StackName"}, "KeyArn"]]}},
                    }
                },
            },
            {
                "path": "Pipeline/Dev/Audit",
                "stage": "Dev",
                "name": "Dev-Audit",
                "account": "222222222222",
                "resources": {"Trail": {"Type": "AWS::CloudTrail::Trail", "Properties": {}}},
            },
            {"path": "Other", "account": "333333333333", "resources": {}},
        ]
    }


def test_stacks_of_nested_stage_assemblies_are_loaded_with_their_stack_name_and_account(assembly_of):
    assembly = assembly_of(spec())

    audit = assembly.by_path["Pipeline/Dev/Audit"]
    assert (audit.name, audit.account, audit.region, audit.top_level) == (
        "Dev-Audit",
        "222222222222",
        "eu-west-1",
        False,
    )
    assert assembly.by_path["Storage"].top_level


def test_an_import_resolves_to_the_exporting_stacks_resource_in_the_same_account_only(assembly_of):
    assembly = assembly_of(spec())
    audit, other = assembly.by_path["Pipeline/Dev/Audit"], assembly.by_path["Other"]

    imported = assembly.text(audit, {"Fn::ImportValue": "Storage:KeyArn"})

    assert imported == "arn:aws:kms:eu-west-1:222222222222:key/⟨Storage/Key⟩"
    assert assembly.resource_for(imported) == Resource(assembly.by_path["Storage"], "Key")
    assert assembly.text(other, {"Fn::ImportValue": "Storage:KeyArn"}) == "⟨import:Storage:KeyArn⟩"


def test_a_named_role_resolves_to_its_literal_arn_from_any_stack(assembly_of):
    assembly = assembly_of(spec())
    storage = assembly.by_path["Storage"]

    joined = assembly.text(
        storage,
        {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::", {"Ref": "AWS::AccountId"}, ":role/reader"]]},
    )
    subbed = assembly.text(storage, {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${Reader}"})

    assert joined == subbed == assembly.text(storage, {"Fn::GetAtt": ["Reader", "Arn"]})
    assert assembly.resource_for(joined) == Resource(storage, "Reader")
    assert assembly.named("AWS::IAM::Role", "reader", "222222222222", "eu-west-1") == Resource(storage, "Reader")
    assert assembly.named("AWS::IAM::Role", "reader", "333333333333", "eu-west-1") is None


def test_deep_resolution_keeps_the_structure_and_drops_no_value(assembly_of):
    assembly = assembly_of(spec())
    storage = assembly.by_path["Storage"]

    document = assembly.deep(storage, {"Statement": [{"Resource": [{"Ref": "Key"}, {"Ref": "AWS::NoValue"}]}]})

    assert document == {"Statement": [{"Resource": ["⟨Storage/Key⟩"]}]}


def test_a_directory_without_a_manifest_is_an_error_that_says_to_synthesize(tmp_path):
    with pytest.raises(AssemblyError, match=r"manifest.json is missing\); run cdk synth first"):
        Assembly.load(tmp_path)


def test_a_stack_without_an_environment_is_an_error_naming_the_manifest(tmp_path):
    (tmp_path / "S.template.json").write_text("{}")
    manifest = {
        "artifacts": {"S": {"type": "aws:cloudformation:stack", "properties": {"templateFile": "S.template.json"}}}
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))

    with pytest.raises(AssemblyError, match=r"manifest\.json: stack environment"):
        Assembly.load(tmp_path)
