"""A synthesized cloud assembly as the rules read it: every stack of every stage, with references resolved.

A value in a template is resolved to text. Pseudo parameters become the stack's account, region and
partition; `Fn::Join`, `Fn::Sub`, `Fn::Select` and `Fn::Split` are evaluated; `Fn::ImportValue` is looked up
among the exports of the stacks in the same account and region. A reference to a resource becomes the same
text wherever it is written from: a role created with a fixed `RoleName` resolves to its literal ARN, so a
pipeline in another account that names `arn:aws:iam::333333333333:role/x` finds the role its stack creates.
A resource without a fixed name stands in as a token, `⟨<stack path>/<logical id>⟩`, inside the ARN it would
have, so wildcard ARNs in policies still match it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"
TOKEN = re.compile(r"⟨([^⟩]*)⟩")
UNKNOWN = "⟨?⟩"


class AssemblyError(Exception):
    """The cloud assembly cannot be read (missing manifest, unreadable template)."""


@dataclass(eq=False)
class Stack:
    path: str  # the construct path, e.g. "DeliveryPipeline/Staging/Monitoring": how findings name the stack
    name: str  # the CloudFormation stack name, e.g. "Staging-Monitoring"
    artifact_id: str
    account: str
    region: str
    template_file: Path
    template: dict[str, Any] = field(repr=False)
    dependencies: tuple[str, ...]  # artifact ids of the stacks this one depends on (same assembly)
    top_level: bool  # in the root assembly (deployed with `cdk deploy`), not in a stage's nested assembly
    manifest: dict[str, Any] = field(repr=False)

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources = self.template.get("Resources") or {}
        return resources if isinstance(resources, dict) else {}


@dataclass(frozen=True)
class Resource:
    stack: Stack
    logical_id: str

    @property
    def body(self) -> dict[str, Any]:
        return self.stack.resources[self.logical_id]

    @property
    def type(self) -> str:
        return str(self.body.get("Type", ""))

    @property
    def props(self) -> dict[str, Any]:
        props = self.body.get("Properties") or {}
        return props if isinstance(props, dict) else {}

    @property
    def token(self) -> str:
        return f"⟨{self.stack.path}/{self.logical_id}⟩"

    def __str__(self) -> str:
        return f"{self.stack.path}/{self.logical_id}"


# The property holding a resource's physical name, when the template fixes it.
NAME_PROPERTY = {
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::CloudWatch::CompositeAlarm": "AlarmName",
    "AWS::CodePipeline::Pipeline": "Name",
    "AWS::CodeBuild::Project": "Name",
    "AWS::CloudTrail::Trail": "TrailName",
    "AWS::Events::Rule": "Name",
}
# The ARN of each type, from partition, region, account and name.
ARN_FORMAT = {
    "AWS::IAM::Role": "arn:{p}:iam::{a}:role/{n}",
    "AWS::IAM::ManagedPolicy": "arn:{p}:iam::{a}:policy/{n}",
    "AWS::SNS::Topic": "arn:{p}:sns:{r}:{a}:{n}",
    "AWS::SQS::Queue": "arn:{p}:sqs:{r}:{a}:{n}",
    "AWS::Lambda::Function": "arn:{p}:lambda:{r}:{a}:function:{n}",
    "AWS::S3::Bucket": "arn:{p}:s3:::{n}",
    "AWS::Logs::LogGroup": "arn:{p}:logs:{r}:{a}:log-group:{n}:*",
    "AWS::CloudWatch::Alarm": "arn:{p}:cloudwatch:{r}:{a}:alarm:{n}",
    "AWS::CloudWatch::CompositeAlarm": "arn:{p}:cloudwatch:{r}:{a}:alarm:{n}",
    "AWS::CodePipeline::Pipeline": "arn:{p}:codepipeline:{r}:{a}:{n}",
    "AWS::CodeBuild::Project": "arn:{p}:codebuild:{r}:{a}:project/{n}",
    "AWS::CloudTrail::Trail": "arn:{p}:cloudtrail:{r}:{a}:trail/{n}",
    "AWS::Events::Rule": "arn:{p}:events:{r}:{a}:rule/{n}",
    "AWS::KMS::Key": "arn:{p}:kms:{r}:{a}:key/{n}",
}
# What `Ref` returns, where it is not the name.
REF_FORMAT = {
    "AWS::SNS::Topic": ARN_FORMAT["AWS::SNS::Topic"],
    "AWS::IAM::ManagedPolicy": ARN_FORMAT["AWS::IAM::ManagedPolicy"],
    "AWS::SQS::Queue": "https://sqs.{r}.amazonaws.com/{a}/{n}",
}
ATTRIBUTE_FORMAT = {
    ("AWS::SQS::Queue", "QueueUrl"): REF_FORMAT["AWS::SQS::Queue"],
    ("AWS::SNS::Topic", "TopicArn"): ARN_FORMAT["AWS::SNS::Topic"],
}
NAME_ATTRIBUTES = {"Name", "QueueName", "TopicName", "KeyId", "RoleName", "AlarmName"}


def parse_environment(environment: str, where: str) -> tuple[str, str]:
    match = re.fullmatch(r"aws://([^/]+)/([^/]+)", environment or "")
    if not match:
        raise AssemblyError(f"{where}: stack environment {environment!r} is not aws://<account>/<region>")
    return match[1], match[2]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise AssemblyError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise AssemblyError(f"{path} is not a JSON object")
    return data


def load_stacks(directory: Path, *, top_level: bool = True) -> list[Stack]:
    """Every CloudFormation stack of the assembly in `directory`, nested stage assemblies included."""
    manifest = _read_json(directory / "manifest.json")
    stacks: list[Stack] = []
    for artifact_id, artifact in (manifest.get("artifacts") or {}).items():
        properties = artifact.get("properties") or {}
        if artifact.get("type") == "aws:cloudformation:stack":
            template_file = directory / properties["templateFile"]
            account, region = parse_environment(artifact.get("environment", ""), str(directory / "manifest.json"))
            stacks.append(
                Stack(
                    path=artifact.get("displayName", artifact_id),
                    name=properties.get("stackName", artifact_id),
                    artifact_id=artifact_id,
                    account=account,
                    region=region,
                    template_file=template_file,
                    template=_read_json(template_file),
                    dependencies=tuple(artifact.get("dependencies") or ()),
                    top_level=top_level,
                    manifest=properties,
                )
            )
        elif artifact.get("type") == "cdk:cloud-assembly":
            stacks += load_stacks(directory / properties["directoryName"], top_level=False)
    return stacks


class Assembly:
    """The stacks of a cloud assembly and the resolution of references between them."""

    def __init__(self, stacks: list[Stack]) -> None:
        self.stacks = stacks
        self.by_path = {stack.path: stack for stack in stacks}
        self.by_artifact = {stack.artifact_id: stack for stack in stacks}
        self._exports: dict[tuple[str, str, str], tuple[Stack, Any]] = {}
        self._by_text: dict[str, Resource] = {}
        self._by_name: dict[tuple[str, str, str, str], Resource] = {}
        self._resolving: set[tuple[str, str]] = set()
        for stack in stacks:
            for output in (stack.template.get("Outputs") or {}).values():
                export = (output or {}).get("Export")
                if export:
                    self._exports[(stack.account, stack.region, self.text(stack, export.get("Name")))] = (
                        stack,
                        output.get("Value"),
                    )
        for resource in self.resources():
            self._by_text[resource.token] = resource
            arn = self.arn(resource)
            if arn is not None:
                self._by_text[arn] = resource
                self._by_text[arn.removesuffix(":*")] = resource  # a log group is named with and without it
            self._by_name[(resource.type, resource.stack.account, resource.stack.region, self.name(resource))] = (
                resource
            )

    @classmethod
    def load(cls, directory: Path) -> Assembly:
        if not (directory / "manifest.json").is_file():
            raise AssemblyError(f"no cloud assembly at {directory} (manifest.json is missing); run cdk synth first")
        stacks = load_stacks(directory)
        if not stacks:
            raise AssemblyError(f"the cloud assembly {directory} holds no stack")
        return cls(stacks)

    # Resources.

    def resources(self, *types: str) -> Iterator[Resource]:
        for stack in self.stacks:
            for logical_id, body in stack.resources.items():
                if not types or (isinstance(body, dict) and body.get("Type") in types):
                    yield Resource(stack, logical_id)

    def name(self, resource: Resource) -> str:
        """The physical name: the template's fixed name, else the resource's token."""
        prop = NAME_PROPERTY.get(resource.type)
        if prop and isinstance(resource.props.get(prop), (str, dict)):
            value = self.text(resource.stack, resource.props[prop])
            if not TOKEN.search(value):
                return value
        return resource.token

    def arn(self, resource: Resource) -> str | None:
        fmt = ARN_FORMAT.get(resource.type)
        if fmt is None:
            return None
        name = self.name(resource)
        if resource.type == "AWS::IAM::Role":
            path = str(resource.props.get("Path") or "/").strip("/")
            name = f"{path}/{name}" if path else name
        return fmt.format(p=PARTITION, r=resource.stack.region, a=resource.stack.account, n=name)

    def _attribute(self, resource: Resource, attribute: str) -> str:
        stack = resource.stack
        parts = {"p": PARTITION, "r": stack.region, "a": stack.account, "n": self.name(resource)}
        if attribute == "Ref":
            fmt = REF_FORMAT.get(resource.type)
            return fmt.format(**parts) if fmt else parts["n"]
        if attribute == "Arn":
            arn = self.arn(resource)
            if arn is not None:
                return arn
        fmt = ATTRIBUTE_FORMAT.get((resource.type, attribute))
        if fmt is not None:
            return fmt.format(**parts)
        if attribute in NAME_ATTRIBUTES:
            return parts["n"]
        return f"⟨{stack.path}/{resource.logical_id}.{attribute}⟩"

    def resource_for(self, value: str) -> Resource | None:
        """The resource a resolved value stands for: its ARN or its token."""
        return self._by_text.get(value)

    def named(self, resource_type: str, name: str, account: str, region: str) -> Resource | None:
        found = self._by_name.get((resource_type, account, region, name))
        if found is None and resource_type.startswith("AWS::IAM::"):
            found = next(
                (r for (t, a, _, n), r in self._by_name.items() if t == resource_type and a == account and n == name),
                None,
            )
        return found

    def resources_in(self, value: str) -> list[Resource]:
        """Every resource whose token appears in a resolved value (e.g. a composite alarm rule)."""
        found = []
        for match in TOKEN.finditer(value):
            path, _, logical = match[1].rpartition("/")
            stack = self.by_path.get(path)
            logical_id = logical.split(".", 1)[0]
            if stack is not None and logical_id in stack.resources:
                found.append(Resource(stack, logical_id))
        for text, resource in self._by_text.items():
            if text.startswith("arn:") and text in value and resource not in found:
                found.append(resource)
        return found

    # Values.

    def text(self, stack: Stack, node: Any) -> str:
        """A template value as text; what cannot be known becomes a token."""
        value = self._evaluate(stack, node)
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, (int, float)):
            return str(value)
        return UNKNOWN

    def deep(self, stack: Stack, node: Any) -> Any:
        """A whole structure (a policy document) with every intrinsic function inside it evaluated."""
        value = self._evaluate(stack, node)
        if isinstance(value, dict):
            return {key: self.deep(stack, item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.deep(stack, item) for item in value if item != {"Ref": "AWS::NoValue"}]
        return value

    def _evaluate(self, stack: Stack, node: Any) -> Any:
        if not (isinstance(node, dict) and len(node) == 1):
            return node
        ((function, argument),) = node.items()
        if function == "Ref":
            return self._ref(stack, str(argument))
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else str(argument).split(".", 1)
            if logical_id not in stack.resources:
                return UNKNOWN
            return self._attribute(Resource(stack, logical_id), attribute)
        if function == "Fn::Join":
            separator, items = argument
            items = self._evaluate(stack, items)
            if not isinstance(items, list):
                return UNKNOWN
            return str(separator).join(self.text(stack, item) for item in items)
        if function == "Fn::Sub":
            return self._sub(stack, argument)
        if function == "Fn::ImportValue":
            return self._import(stack, self.text(stack, argument))
        if function == "Fn::Select":
            index, items = argument
            items = self._evaluate(stack, items)
            position = int(self.text(stack, index)) if str(self.text(stack, index)).isdigit() else -1
            return (
                self._evaluate(stack, items[position])
                if isinstance(items, list) and 0 <= position < len(items)
                else UNKNOWN
            )
        if function == "Fn::Split":
            separator, source = argument
            return self.text(stack, source).split(str(separator))
        if function == "Fn::If":
            return self._evaluate(stack, argument[1])  # conditions are not evaluated: the first branch stands
        if function == "Fn::Base64":
            return self._evaluate(stack, argument)
        if function == "Fn::FindInMap":
            names = [self.text(stack, part) for part in argument[:3]]
            try:
                return self._evaluate(stack, stack.template["Mappings"][names[0]][names[1]][names[2]])
            except (KeyError, TypeError):
                return UNKNOWN
        if function.startswith("Fn::") or function == "Condition":
            return UNKNOWN
        return node

    def _ref(self, stack: Stack, name: str) -> Any:
        pseudo = {
            "AWS::Partition": PARTITION,
            "AWS::Region": stack.region,
            "AWS::AccountId": stack.account,
            "AWS::StackName": stack.name,
            "AWS::URLSuffix": URL_SUFFIX,
        }
        if name in pseudo:
            return pseudo[name]
        if name == "AWS::NoValue":
            return None
        parameter = (stack.template.get("Parameters") or {}).get(name)
        if parameter is not None:
            return parameter.get("Default", f"⟨{stack.path}/{name}⟩")
        if name in stack.resources:
            return self._attribute(Resource(stack, name), "Ref")
        return UNKNOWN

    def _sub(self, stack: Stack, argument: Any) -> str:
        template, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1] or {})

        def replace(match: re.Match[str]) -> str:
            name = match[1]
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return self.text(stack, variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return self.text(stack, {"Fn::GetAtt": [logical_id, attribute]})
            return self.text(stack, {"Ref": name})

        return re.sub(r"\$\{([^}]+)\}", replace, str(template))

    def _import(self, stack: Stack, name: str) -> Any:
        found = self._exports.get((stack.account, stack.region, name))
        if found is None:
            return f"⟨import:{name}⟩"
        exporter, value = found
        key = (exporter.path, name)
        if key in self._resolving:  # a cycle of exports: nothing CloudFormation would deploy either
            return UNKNOWN
        self._resolving.add(key)
        try:
            return self._evaluate(exporter, value)
        finally:
            self._resolving.discard(key)


def walk(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every string in a structure, with the path of keys and indexes that leads to it."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, (*path, index))
    elif isinstance(value, str):
        yield path, value
