"""The whole app as app.py builds it: all stages, cdk-nag on every stack, byte-identical twice."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import assertions

from cicd.gate.checks.cdk_nag_coverage import PACKS, assembly_stacks, coverage_findings
from config import load_all
from stacks import release_bundle

ROOT = Path(__file__).resolve().parents[2]
STAGE_STACKS = {"Storage", "Compute", "Orchestration", "Release", "Audit", "Monitoring"}
# Prod holds production data: the delivery account gets no role into it (stacks/data_platform_stage.py).
DELIVERY_ACCESS_STAGES = ("Dev", "Staging")
# Deployed with the pipeline's bootstrap, before it: the roles it names in each environment account.
ACCESS_STACKS = {f"{stage}PipelineAccess" for stage in ("Dev", "Staging", "Prod")}
DELIVERY_STACKS = {"DeliveryAudit", "DeliveryPipeline", *ACCESS_STACKS}


# The second synth runs in a fresh interpreter with another hash seed, so that set or dict order
# leaking into a template would show up as a difference.
SECOND_SYNTH = """
import json, sys
from pathlib import Path
import aws_cdk as cdk
from stacks import release_bundle
release_bundle.DEFAULT_RELEASE_DIR = Path(sys.argv[2])
sys.path.insert(0, ".")
from app import build_app
from config import load_all
context = json.loads(Path("cdk.json").read_text())["context"]
app = cdk.App(context=context, outdir=sys.argv[1], builtin_cloud_formation_validation=False)
build_app(load_all(), app, packages_dir=Path(sys.argv[3])).synth()
"""


@pytest.fixture(scope="module")
def assemblies(tmp_path_factory, release_dir, whole_app):
    """app.py's build_app synthesized twice, into two directories, from the same bundle."""
    first, second = Path(whole_app.synth().directory), tmp_path_factory.mktemp("second")
    unstaged = tmp_path_factory.getbasetemp() / "packages-not-staged"  # conftest's whole_app uses the same
    env = {**os.environ, "PYTHONHASHSEED": "12345", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    env.pop("PACKAGES_REQUIRED", None)  # like whole_app: the same packages (none) in both synths
    subprocess.run(
        [sys.executable, "-c", SECOND_SYNTH, str(second), str(release_dir), str(unstaged)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return first, second


def files(out: Path, pattern: str) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob(pattern))}


@pytest.mark.slow
def test_every_stack_of_every_stage_was_checked_by_every_pack_with_no_open_finding(assemblies):
    out = assemblies[0]
    stacks = assembly_stacks(out)
    # The stages live inside the delivery pipeline stack: DeliveryPipeline/<Stage>/<Stack>.
    stage_stacks = {s.path for s in stacks if s.path.count("/") == 2}
    expected = {f"DeliveryPipeline/{stage}/{stack}" for stage in ("Dev", "Staging", "Prod") for stack in STAGE_STACKS}
    expected |= {f"DeliveryPipeline/{stage}/DeliveryAccess" for stage in DELIVERY_ACCESS_STAGES}
    assert stage_stacks == expected
    assert {s.path for s in stacks} - stage_stacks == DELIVERY_STACKS
    findings, count = coverage_findings(out, ROOT)
    assert count == len(stacks)
    assert findings == [], "\n".join(f.render() for f in findings)
    for pack in PACKS:
        assert len(list(out.glob(f"{pack}-*-NagReport.csv"))) >= len(stage_stacks)


@pytest.mark.slow
def test_two_synths_give_identical_templates_and_assets(assemblies):
    first, second = assemblies
    templates = files(first, "*.template.json")
    assert len(templates) >= 12
    assert templates == files(second, "*.template.json")
    assert files(first, "*.assets.json") == files(second, "*.assets.json")
    assert files(first, "*-NagReport.csv") == files(second, "*-NagReport.csv")


CDK_CONTEXT = json.loads((ROOT / "cdk.json").read_text())["context"]


def app_module():
    spec = importlib.util.spec_from_file_location("cdk_app_for_qualifier", ROOT / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def with_qualifier(qualifier: str):
    config = load_all()
    return config.model_copy(update={"delivery": config.delivery.model_copy(update={"bootstrap_qualifier": qualifier})})


def test_the_configured_bootstrap_qualifier_reaches_every_stack_and_the_pipeline_role_names(
    tmp_path, monkeypatch, release_dir
):
    # Fails on 9cf02fd: delivery.bootstrap_qualifier was read by nothing, so stacks looked for the
    # default qualifier's bootstrap roles in accounts bootstrapped with another one.
    monkeypatch.setattr(release_bundle, "DEFAULT_RELEASE_DIR", release_dir)
    monkeypatch.delenv("PACKAGES_REQUIRED", raising=False)
    app = cdk.App(context=CDK_CONTEXT, outdir=str(tmp_path / "out"), builtin_cloud_formation_validation=False)
    app_module().build_app(with_qualifier("abc123"), app, packages_dir=tmp_path / "no-packages")
    pipeline = next(c for c in app.node.children if c.node.id == "DeliveryPipeline")
    storage = pipeline.node.find_child("Prod").node.find_child("Storage")
    for stack in (pipeline, storage):
        parameters = assertions.Template.from_stack(stack).to_json()["Parameters"]
        assert parameters["BootstrapVersion"]["Default"] == "/cdk-bootstrap/abc123/version", stack.node.path
    policies = json.dumps(assertions.Template.from_stack(pipeline).find_resources("AWS::IAM::Policy"))
    assert "cdk-abc123-lookup-role" in policies and "cdk-hnb659fds-" not in policies


def test_a_qualifier_also_given_as_cdk_context_must_agree_with_the_config():
    app = cdk.App(context={"@aws-cdk/core:bootstrapQualifier": "other1"})
    with pytest.raises(ValueError, match=r"config/delivery\.yaml: bootstrap_qualifier is 'abc123' .* says 'other1'"):
        app_module().use_bootstrap_qualifier(app, "abc123")
