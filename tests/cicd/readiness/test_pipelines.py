"""Deploy order: `cdk deploy` of the root stacks by their dependencies, then the pipeline's stages."""

import json
from pathlib import Path

from cicd.readiness.pipelines import DeployOrder, Step

FIXTURE = Path(__file__).parent / "rules" / "fixtures" / "role_named_before_it_is_created" / "good.json"


def order(assembly_of) -> tuple[DeployOrder, dict]:
    assembly = assembly_of(json.loads(FIXTURE.read_text()))
    return DeployOrder(assembly), assembly.by_path


def test_root_stacks_come_before_pipeline_stacks_and_in_dependency_order_among_themselves(assembly_of):
    deploy, stacks = order(assembly_of)

    assert deploy.exists_before(stacks["StagingDeliveryAccess"], stacks["DeliveryPipeline"])  # a manifest dependency
    assert not deploy.exists_before(stacks["DeliveryPipeline"], stacks["StagingDeliveryAccess"])
    assert deploy.exists_before(stacks["DeliveryAudit"], stacks["DeliveryPipeline/Staging/Monitoring"])
    assert not deploy.exists_before(stacks["DeliveryPipeline/Staging/Monitoring"], stacks["DeliveryPipeline"])


def test_pipeline_stacks_exist_from_their_change_set_execution_on_not_from_its_preparation(assembly_of):
    deploy, stacks = order(assembly_of)
    monitoring, access = stacks["DeliveryPipeline/Staging/Monitoring"], stacks["DeliveryPipeline/Staging/Access"]

    assert (deploy.step(monitoring).stage, deploy.step(monitoring).run_order) == (1, 2)
    assert (deploy.step(access).stage, deploy.step(access).run_order) == (1, 4)
    assert deploy.exists_before(monitoring, access)
    assert not deploy.exists_before(monitoring, Step(1, 1, 2, "the same run order"))
    assert "action Monitoring.Deploy (run order 2)" in deploy.describe(monitoring)
