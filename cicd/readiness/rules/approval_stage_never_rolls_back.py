"""A stage that asks a person for approval has no rollback condition.

CodePipeline rolls a stage back by re-running a previous execution of the same stage. In a stage holding a
manual approval, a rejection fails the stage, the failure triggers the rollback, and the rollback asks for
the approval again (or, worse, re-deploys what the approval was meant to hold back). Approvals belong in a
stage of their own, without OnFailure or OnSuccess rollback.
"""

from __future__ import annotations

from collections.abc import Iterable

from cicd.readiness.findings import Finding
from cicd.readiness.rule import Context, Rule


def rolls_back(stage: dict[str, object]) -> list[str]:
    found = []
    for condition in ("OnFailure", "OnSuccess", "BeforeEntry"):
        block = stage.get(condition)
        if not isinstance(block, dict):
            continue
        results = [block.get("Result")] + [
            c.get("Result") for c in block.get("Conditions") or () if isinstance(c, dict)
        ]
        if "ROLLBACK" in results:
            found.append(condition)
    return found


class ApprovalStageNeverRollsBack(Rule):
    finds = "a stage holding a manual approval that rolls back on failure or on a condition"
    fix = "move the approval (and its guard) into a stage of its own without rollback conditions"

    def check(self, ctx: Context) -> Iterable[Finding]:
        for pipeline in ctx.order.pipelines:
            for stage in pipeline.stages:
                approvals = [
                    str(a.get("Name"))
                    for a in stage.get("Actions") or ()
                    if (a.get("ActionTypeId") or {}).get("Category") == "Approval"
                ]
                conditions = rolls_back(stage)
                if approvals and conditions:
                    yield self.finding(
                        ctx,
                        pipeline.resource,
                        f"stage {stage.get('Name')} holds approval {', '.join(approvals)} and rolls back on "
                        f"{', '.join(conditions)}: a rejection rolls the stage back and the rollback asks again",
                        subject=str(stage.get("Name")),
                    )
