"""Staged packages: uploaded by the platform lane when present, an error when required and absent."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import pytest
from aws_cdk import assertions

from cicd.packages.locks import JAR_LOCK
from config import load_all
from platform_vocabulary.spark_jars import JARS_PREFIX
from stacks.data_platform_stage import DataPlatformStage
from stacks.nag import apply_nag_checks
from stacks.orchestration_stack import PLUGINS_KEY
from stacks.staged_packages import StagedPackages, StagedPackagesError, parse_required

ROOT = Path(__file__).resolve().parents[2]
JAR = b"PK fake jar"
JAR_FILE = "kafka-clients-3.4.1.jar"
NAG_RULE = r".*(AwsSolutions|NIST\.800\.53|HIPAA|PCI|Serverless)-.*"


def staged(tmp_path: Path) -> Path:
    """build/packages as `make packages` leaves it: one jar and plugins.zip."""
    packages = tmp_path / "packages"
    (packages / "jars").mkdir(parents=True)
    (packages / "jars" / JAR_FILE).write_bytes(JAR)
    (packages / "plugins.zip").write_bytes(b"PK fake plugins")
    return packages


def repo_locking(tmp_path: Path, data: bytes) -> Path:
    lock = tmp_path / "repo" / JAR_LOCK
    lock.parent.mkdir(parents=True)
    coordinate = "org.apache.kafka:kafka-clients:3.4.1"
    lock.write_text(json.dumps({"jars": [{"coordinate": coordinate, "sha256": hashlib.sha256(data).hexdigest()}]}))
    return tmp_path / "repo"


def test_absent_and_not_required_leaves_the_uploads_out(tmp_path):
    assert StagedPackages.locate(tmp_path / "packages", required=False) is None


def test_absent_and_required_stops_synth_naming_the_directory_and_the_fix(tmp_path):
    with pytest.raises(StagedPackagesError, match=r"packages does not exist.*`make packages`") as raised:
        StagedPackages.locate(tmp_path / "packages", required=True)
    assert str(tmp_path / "packages") in str(raised.value)


def test_staged_jars_are_checked_against_the_lock(tmp_path):
    packages = staged(tmp_path)
    found = StagedPackages.locate(packages, required=True, root=repo_locking(tmp_path, JAR))
    assert found == StagedPackages(jar_dir=packages / "jars", plugins_zip=packages / "plugins.zip")
    with pytest.raises(StagedPackagesError, match=rf"{JAR_FILE}: sha256 differs .*make spark-jars"):
        StagedPackages.locate(packages, required=False, root=repo_locking(tmp_path / "other", b"other bytes"))


def test_a_half_staged_directory_is_an_error_even_when_not_required(tmp_path):
    packages, root = staged(tmp_path), repo_locking(tmp_path, JAR)
    (packages / "jars" / "unlocked-1.0.jar").write_bytes(b"x")
    with pytest.raises(StagedPackagesError, match=r"does not lock: \['unlocked-1.0.jar'\]"):
        StagedPackages.locate(packages, required=False, root=root)
    (packages / "plugins.zip").unlink()
    with pytest.raises(StagedPackagesError, match=r"plugins\.zip is missing; run `make packages`"):
        StagedPackages.locate(packages, required=False, root=root)


@pytest.mark.parametrize(("value", "expected"), [(False, False), (True, True), ("true", True), ("0", False)])
def test_the_flag_accepts_cdk_json_and_command_line_values(value, expected):
    assert parse_required(value) is expected


def test_a_misspelt_flag_is_an_error():
    with pytest.raises(StagedPackagesError, match=r"packages:required is 'ture'; set it to true or false"):
        parse_required("ture")


@pytest.fixture(scope="module")
def with_packages(tmp_path_factory, release_dir, cfn) -> DataPlatformStage:
    packages = staged(tmp_path_factory.mktemp("staged"))
    stage = DataPlatformStage(
        cfn.new_app(),
        "Dev",
        env_config=load_all().environment("dev"),
        delivery_account="111111111111",
        delivery_pipeline_name="data-platform-delivery",
        release_dir=release_dir,
        packages=StagedPackages(jar_dir=packages / "jars", plugins_zip=packages / "plugins.zip"),
    )
    apply_nag_checks(stage)
    return stage


@pytest.mark.parametrize("stack", ["compute", "orchestration"])
def test_the_uploads_pass_cdk_nag(with_packages, stack):
    # The gate's synth has no staged packages here, so only this test sees the uploads under cdk-nag.
    found = getattr(with_packages, stack)
    annotations = assertions.Annotations.from_stack(found)
    errors = annotations.find_error("*", assertions.Match.string_like_regexp(".*"))
    nag_warnings = annotations.find_warning("*", assertions.Match.string_like_regexp(NAG_RULE))
    assert [(e.id, e.entry.data) for e in [*errors, *nag_warnings]] == []


def test_jars_are_uploaded_beside_the_releases_and_never_pruned(with_packages, cfn):
    template = assertions.Template.from_stack(with_packages.compute)
    deployments = template.find_resources("Custom::CDKBucketDeployment")
    assert len(deployments) == 1
    props = next(iter(deployments.values()))["Properties"]
    assert props["DestinationBucketKeyPrefix"] == JARS_PREFIX
    assert props["Prune"] is False
    assert props["RetainOnDelete"] is True
    assert "ReleaseBucket" in cfn.rendered(props["DestinationBucketName"])


def test_mwaa_installs_from_the_uploaded_plugins_zip_pinned_by_version(with_packages, cfn):
    template = assertions.Template.from_stack(with_packages.orchestration).to_json()
    copies = {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] == "Custom::AWS" and "copyObject" in cfn.rendered(resource["Properties"]["Create"])
    }
    assert len(copies) == 1
    (copy_id, copy), props = next(iter(copies.items())), template["Resources"]["AirflowEnvironment"]["Properties"]
    assert f'\\"Key\\":\\"{PLUGINS_KEY}\\"' in cfn.rendered(copy["Properties"]["Create"])
    assert "Delete" not in copy["Properties"]  # old versions stay for a rollback of the environment
    assert props["PluginsS3Path"] == PLUGINS_KEY
    assert props["PluginsS3ObjectVersion"] == {"Fn::GetAtt": [copy_id, "VersionId"]}


def test_without_staged_packages_nothing_is_uploaded_and_mwaa_has_no_plugins(synth):
    compute = synth.template("dev", "Compute")
    compute.resource_count_is("Custom::CDKBucketDeployment", 0)
    props = synth.template("dev", "Orchestration").to_json()["Resources"]["AirflowEnvironment"]["Properties"]
    assert "PluginsS3Path" not in props and "PluginsS3ObjectVersion" not in props


def load_app_module():
    spec = importlib.util.spec_from_file_location("cdk_app_for_packages", ROOT / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("source", ["context", "environment"])
def test_the_app_refuses_to_synth_without_required_packages(tmp_path, monkeypatch, cfn, source):
    app = cfn.new_app()
    if source == "context":
        app.node.set_context("packages:required", "true")
        monkeypatch.delenv("PACKAGES_REQUIRED", raising=False)
    else:
        monkeypatch.setenv("PACKAGES_REQUIRED", "true")
    with pytest.raises(StagedPackagesError, match=r"`make packages`"):
        load_app_module().build_app(load_all(), app, packages_dir=tmp_path / "absent")


def test_the_plugins_copy_gets_the_five_minutes_it_asks_for(with_packages):
    # Fails on 9cf02fd: the shared provider was created first by VersionedObject with 120 s, so the
    # copy's timeout=5min was silently ignored.
    template = assertions.Template.from_stack(with_packages.orchestration).to_json()["Resources"]
    providers = [
        r for logical_id, r in template.items() if r["Type"] == "AWS::Lambda::Function" and logical_id.startswith("AWS")
    ]
    assert len(providers) == 1
    assert providers[0]["Properties"]["Timeout"] >= 300


@pytest.mark.slow
def test_the_templates_with_the_uploads_pass_the_gates_cfn_lint_and_checkov(with_packages, tmp_path):
    # The gate lints build/cdk.out, which has the uploads only after `make packages`; here the gate's
    # own cfn-lint and checkov checks (same rules, .cfnlintrc, skips) run on a synth that has them.
    from cicd.gate.checks.cfn_lint import CfnLint
    from cicd.gate.checks.checkov_scan import Checkov
    from cicd.gate.model import GateContext

    assembly = Path(with_packages.synth().directory)
    out = tmp_path / "build" / "cdk.out"
    out.mkdir(parents=True)
    templates = list(assembly.glob("*.template.json"))
    assert {"Custom::CDKBucketDeployment", "Custom::AWS"} <= {
        r["Type"] for t in templates for r in json.loads(t.read_text())["Resources"].values()
    }
    for template in templates:
        (out / template.name).write_bytes(template.read_bytes())
    (tmp_path / ".cfnlintrc").write_bytes((ROOT / ".cfnlintrc").read_bytes())
    (tmp_path / ".venv-checkov").symlink_to(ROOT / ".venv-checkov")
    ctx = GateContext(root=tmp_path, out_dir=tmp_path / "build" / "gate")
    for check in (CfnLint(), Checkov()):
        errors = [f for f in check.run(ctx) if f.severity == "error"]
        assert errors == [], f"{check.name}: " + "\n".join(f"{f.rule} {f.file}: {f.message}" for f in errors)
