"""Fault injection on the rollback command: at every API step of a rollback through the pipeline.

SSM and S3 are moto; CodePipeline and CloudFormation are botocore Stubbers (moto has no RollbackStage),
so their steps take the faults a Stubber's client can take (an error, an answer lost after the call
was applied, no answer). Accepting RollbackStage, or executing the fallback's change set, is what
activates the target here (the activator writes the parameter last). Invariants after each fault:
  - a failure is a RollbackFailedError or RollbackRefusedError, and a success means the target is live;
  - once RollbackStage was accepted, no change set is deployed beside it;
  - running the command again without the fault converges: the target is live (or already was).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import boto3
from botocore.stub import Stubber

from cicd.rollback.rollback import Clients, RollbackFailedError, RollbackRefusedError, Steps, rollback
from tests.fault_injection import faults, inject, pick, record_steps

from .conftest import EXEC, PARAMETER, PIPELINE, REGION, A
from .test_rollback import active, execution, expect_change_set, list_actions

STUBBED = ("codepipeline", "cloudformation")


class Delivery:
    """Stubbed CodePipeline and CloudFormation, and what they were asked; the activator's own SSM client."""

    def __init__(self) -> None:
        self.codepipeline = boto3.client("codepipeline", region_name=REGION)
        self.cloudformation = boto3.client("cloudformation", region_name=REGION)
        self.activator_ssm = boto3.client("ssm", region_name=REGION)
        self.codepipeline.meta.events.register("after-call.codepipeline.RollbackStage", self._rolled_back)
        self.cloudformation.meta.events.register("after-call.cloudformation.ExecuteChangeSet", self._executed)
        self.cloudformation.meta.events.register_first(
            "before-parameter-build.cloudformation.CreateChangeSet", self._change_set
        )
        self.rollback_accepted = self.change_set_after_rollback = False

    def _rolled_back(self, **_) -> None:
        self.rollback_accepted = True
        self._activate()

    def _executed(self, **_) -> None:
        self._activate()

    def _change_set(self, **_) -> None:
        self.change_set_after_rollback |= self.rollback_accepted

    def _activate(self) -> None:  # the activator, run by the stack update, writes the parameter last
        self.activator_ssm.put_parameter(Name=PARAMETER, Value=A, Type="String", Overwrite=True)

    @contextmanager
    def queued(self, now) -> Iterator[None]:
        """One attempt's answers: the pipeline path, and the fallback's change set if it comes to that."""
        self.rollback_accepted = self.change_set_after_rollback = False
        pipeline, cfn = Stubber(self.codepipeline), Stubber(self.cloudformation)
        list_actions(pipeline, now)
        pipeline.add_response(
            "rollback_stage",
            {"pipelineExecutionId": "exec-rollback"},
            {"pipelineName": PIPELINE, "stageName": "Prod", "targetPipelineExecutionId": EXEC[A]},
        )
        for status in ("InProgress", "Succeeded"):
            pipeline.add_response(
                "get_pipeline_execution",
                execution(status),
                {"pipelineName": PIPELINE, "pipelineExecutionId": "exec-rollback"},
            )
        expect_change_set(cfn, A)
        with pipeline, cfn:
            yield

    def clients(self, world: Clients) -> Clients:
        return Clients(codepipeline=self.codepipeline, cloudformation=self.cloudformation, s3=world.s3, ssm=world.ssm)

    def named(self, world: Clients) -> dict:
        return {
            "codepipeline": self.codepipeline,
            "cloudformation": self.cloudformation,
            "ssm": world.ssm,
            "s3": world.s3,
        }


def run(env, delivery: Delivery, world: Clients, now, around=nullcontext) -> object:
    """One rollback to A; `around()` wraps it inside the Stubbers (a later register_first runs first)."""
    with delivery.queued(now), around():
        try:
            return rollback(env, delivery.clients(world), to=A, steps=Steps(echo=lambda _: None), sleep=lambda _: None)
        except Exception as exc:
            return exc


def test_every_fault_at_every_step_of_a_rollback_ends_with_the_target_live(rollback_world, fault_tally):
    reset, now = rollback_world
    tally = fault_tally("rollback command")
    delivery = Delivery()
    env, world = reset()
    steps: list = []

    @contextmanager
    def recording():
        with record_steps(delivery.named(world)) as recorded:
            yield
        steps.extend(recorded)

    assert run(env, delivery, world, now, recording).method == "pipeline"
    for fault in faults(pick(steps), stubbed=STUBBED):
        env, world = reset()
        tally.fault(fault)
        injected: list = []

        @contextmanager
        def injecting(fault=fault, world=world, injected=injected):
            with inject(fault, delivery.named(world), stubbed=STUBBED) as injector:
                injected.append(injector)
                yield

        outcome = run(env, delivery, world, now, injecting)
        tally.check("the fault was reached", injected[0].fired)
        failed = isinstance(outcome, Exception)
        named = not failed or isinstance(outcome, RollbackFailedError | RollbackRefusedError)
        tally.check("a failure is a RollbackFailedError or RollbackRefusedError", named, repr(outcome))
        if not failed:
            tally.check("a success means the target is live", active(world.ssm) == A)
        tally.check("no change set beside an accepted RollbackStage", not delivery.change_set_after_rollback)
        again = run(env, delivery, world, now)
        settled = not isinstance(again, Exception) or (
            isinstance(again, RollbackRefusedError) and "already the active release" in str(again)
        )
        tally.check("running it again converges on the target", settled and active(world.ssm) == A, repr(again))
    tally.assert_all_held()
