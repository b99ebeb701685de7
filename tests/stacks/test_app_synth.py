"""The whole app as app.py builds it: all stages, cdk-nag on every stack, byte-identical twice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cicd.gate.checks.cdk_nag_coverage import PACKS, assembly_stacks, coverage_findings

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
