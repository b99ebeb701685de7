"""Synthesize stages in-process with cdk.json's feature flags and a small release bundle."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import aws_cdk as cdk
import pytest
from aws_cdk import assertions

from config import load_all
from stacks import release_bundle
from stacks.data_platform_stage import DataPlatformStage

ROOT = Path(__file__).resolve().parents[2]
CDK_CONTEXT = json.loads((ROOT / "cdk.json").read_text())["context"]
BUNDLE_FILES = {
    "dags/crm_accounts.py": b"# DAG wiring only\n",
    "dags/pipelines/crm_accounts.yaml": b"id: crm_accounts\n",
    "dbt/dbt_project.yml": b"name: data_platform\n",
    "spark/crm_accounts_batch/main.py": b"def main():\n    pass\n",
}


def write_bundle(out_dir: Path, files: dict[str, bytes] = BUNDLE_FILES) -> Path:
    """A bundle laid out like cicd/release/bundle.py's: files plus release.json, id = content hash."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + hashlib.sha256(files[path]).hexdigest().encode() + b"\n")
    release_id = f"r-{digest.hexdigest()[:16]}"
    target = out_dir / release_id
    for path, data in files.items():
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        (target / path).write_bytes(data)
    manifest = {
        "release_id": release_id,
        "git_sha": "a" * 40,
        "files": {path: hashlib.sha256(data).hexdigest() for path, data in sorted(files.items())},
    }
    (target / "release.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return target


def new_app(outdir: Path | None = None) -> cdk.App:
    # CDK's built-in template validation costs ~15 s per synth here; cfn-lint covers it in the gate.
    return cdk.App(
        context=CDK_CONTEXT, outdir=str(outdir) if outdir else None, builtin_cloud_formation_validation=False
    )


@pytest.fixture(scope="session")
def config():
    return load_all()


@pytest.fixture(scope="session")
def release_dir(tmp_path_factory) -> Path:
    return write_bundle(tmp_path_factory.mktemp("release"))


@pytest.fixture(scope="session")
def release_id(release_dir) -> str:
    return json.loads((release_dir / "release.json").read_text())["release_id"]


def load_app_module():
    """app.py, loaded by path: it is a script, not a package module."""
    spec = importlib.util.spec_from_file_location("cdk_app_entry", ROOT / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def whole_app(config, release_dir, tmp_path_factory) -> cdk.App:
    """app.py's build_app on the test bundle, built once per session (~6 s of jsii time).

    Every stack test reads its templates from this one app: the delivery stacks directly, the
    environment stacks through `synth` (the stages the pipeline deploys are these very objects).
    `whole_app.synth()` writes the cloud assembly, with cdk-nag's reports, to its own folder.
    """
    patch = pytest.MonkeyPatch()
    patch.setattr(release_bundle, "DEFAULT_RELEASE_DIR", release_dir)
    # Never the working tree's build/packages nor the Validate build's PACKAGES_REQUIRED: the same tests
    # must pass before and after `make packages` (test_staged_packages.py synthesizes with packages).
    patch.delenv("PACKAGES_REQUIRED", raising=False)
    try:
        return load_app_module().build_app(
            config, new_app(tmp_path_factory.mktemp("cdk.out")), packages_dir=unstaged_packages_dir(tmp_path_factory)
        )
    finally:
        patch.undo()


def unstaged_packages_dir(tmp_path_factory) -> Path:
    """A packages directory that does not exist: synth leaves the uploads out, as on a laptop."""
    return tmp_path_factory.getbasetemp() / "packages-not-staged"


class Synthesized:
    """The stages of the shared app, with their templates kept for the session."""

    def __init__(self, app: cdk.App) -> None:
        self._pipeline = app.node.find_child("DeliveryPipeline")
        self._templates: dict[tuple[str, str], assertions.Template] = {}

    def stage(self, env: str) -> DataPlatformStage:
        stage = self._pipeline.node.find_child(env.capitalize())
        assert isinstance(stage, DataPlatformStage), f"the pipeline has no stage for {env}"
        return stage

    def template(self, env: str, stack: str) -> assertions.Template:
        if (env, stack) not in self._templates:
            found = [s for s in self.stage(env).stacks if s.node.id == stack]
            assert found, f"stage {env} has no stack {stack}"
            self._templates[env, stack] = assertions.Template.from_stack(found[0])
        return self._templates[env, stack]


@pytest.fixture(scope="session")
def synth(whole_app) -> Synthesized:
    return Synthesized(whole_app)


def logical_id(construct) -> str:
    """The logical id of a construct's CloudFormation resource (e.g. a role), as in its template."""
    stack = cdk.Stack.of(construct)
    resource = construct if isinstance(construct, cdk.CfnElement) else construct.node.default_child
    return stack.resolve(resource.logical_id)


def statements_of(template: assertions.Template, role_id: str) -> list[dict]:
    """Every statement of every inline policy attached to one role."""
    found = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements = policy["Properties"]["PolicyDocument"]["Statement"]
            found += statements if isinstance(statements, list) else [statements]
    assert found, f"no policy attached to {role_id}"
    return found


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def rendered(value) -> str:
    """A resource expression as text (so tests can ask which bucket or key it names)."""
    return json.dumps(value, sort_keys=True)


SOURCE_KEYS = {"aws:SourceAccount", "aws:SourceArn"}


def _condition_keys(statement: dict) -> set[str]:
    return {key for operator in (statement.get("Condition") or {}).values() for key in operator}


def _allows(statements: list[dict], service: str, action: str) -> list[dict]:
    def grants(statement: dict) -> bool:
        actions = as_list(statement.get("Action", []))
        return any(a == action or (a.endswith("*") and action.startswith(a[:-1])) for a in actions)

    return [
        s
        for s in statements
        if s.get("Effect") == "Allow" and service in as_list(s.get("Principal", {}).get("Service", [])) and grants(s)
    ]


def alarm_delivery_problems(template: dict) -> list[str]:
    """Why an alarm of this template could not reach its SNS topic: topic policy, then topic key.

    Every topic named in an AlarmActions/OKActions list must let cloudwatch.amazonaws.com publish and
    use its KMS key, each under aws:SourceAccount and aws:SourceArn (our alarms only).
    """
    resources = template["Resources"]
    topics = {
        action["Ref"]
        for r in resources.values()
        if r["Type"] in ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm")
        for field in ("AlarmActions", "OKActions")
        for action in r["Properties"].get(field, [])
        if isinstance(action, dict) and "Ref" in action
    }
    problems = []
    for topic in sorted(topics):
        policies = [
            r["Properties"]["PolicyDocument"]["Statement"]
            for r in resources.values()
            if r["Type"] == "AWS::SNS::TopicPolicy" and {"Ref": topic} in r["Properties"]["Topics"]
        ]
        publish = _allows([s for p in policies for s in as_list(p)], "cloudwatch.amazonaws.com", "sns:Publish")
        if not any(_condition_keys(s) >= SOURCE_KEYS for s in publish):
            problems.append(f"{topic}: no topic policy lets CloudWatch alarms of this account publish")
        key = resources[topic]["Properties"].get("KmsMasterKeyId")
        if key is None:
            continue
        key_id = key["Fn::GetAtt"][0] if "Fn::GetAtt" in key else key.get("Ref")
        statements = as_list(resources[key_id]["Properties"]["KeyPolicy"]["Statement"])
        use = _allows(statements, "cloudwatch.amazonaws.com", "kms:GenerateDataKey")
        if not any(_condition_keys(s) >= SOURCE_KEYS for s in use):
            problems.append(f"{topic}: its key {key_id} does not let CloudWatch alarms of this account use it")
    return problems


@pytest.fixture(scope="session")
def cfn() -> SimpleNamespace:
    """Template helpers for the test modules (importlib mode cannot import conftest by name)."""
    return SimpleNamespace(
        logical_id=logical_id,
        statements_of=statements_of,
        as_list=as_list,
        rendered=rendered,
        new_app=new_app,
        alarm_delivery_problems=alarm_delivery_problems,
    )
