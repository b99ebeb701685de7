"""Changes from hand-written ledger records: where the approval and the deploys are read from, and
records the report cannot read.

The delivery pipeline approves in "ApproveProd" and deploys in "Prod" (platform lane) and
"ProdRelease" (release lane); older records hold the approval inside "Prod".
"""

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from cicd.audit.changes import (
    DIRECT_CHANGE,
    GUARD_MISSING,
    MALFORMED_EVIDENCE,
    UNAPPROVED,
    Scope,
    build_changes,
    malformed_records,
)
from cicd.audit.report import build_report
from cicd.audit.source import LocalLedgerSource

PIPELINE, EXECUTION = "DataPlatformDelivery", "5f6a7b8c-0000-4000-8000-000000000001"
BOB = "arn:aws:sts::111111111111:assumed-role/DataPlatformReleaseApprovers/bob@example.com"
SCOPE = Scope("prod", "Prod", date(2026, 3, 1), date(2026, 3, 31), "444444444444")
T0 = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)


class Ledger:
    """Records as the ledger writer shapes them, minutes apart in the order they are added."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.at = T0

    def add(self, kind: str, **fields: Any) -> dict[str, Any]:
        self.at += timedelta(minutes=1)
        record = {
            "kind": kind,
            "pipeline": PIPELINE,
            "execution_id": EXECUTION,
            "occurred_at": self.at.isoformat(),
            "recorded_at": (self.at + timedelta(seconds=3)).isoformat(),
            "_key": f"ledger/v1/dt=2026-03-12/{kind}/{len(self.records)}.json",
            **fields,
        }
        self.records.append(record)
        return record

    def transition(self, level: str, state: str, stage: str | None = None, **extra: Any) -> dict[str, Any]:
        kind = {"pipeline": "pipeline-execution", "stage": "stage-execution", "action": "action-execution"}[level]
        return self.add(kind, transition={"level": level, "stage": stage, "state": state, "attempt": 1, **extra})

    def stage(self, stage: str, *states: str) -> None:
        for state in states:
            self.transition("stage", state, stage)

    def action(self, stage: str, action: str, category: str, state: str, approver: str | None = None) -> None:
        record = self.transition("action", state, stage, action=action, category=category)
        if approver:
            record["enrichment"] = {"action_execution": {"updated_by": approver, "summary": "ok to ship"}}

    def approval(self, stage: str = "ApproveProd", state: str = "SUCCEEDED") -> None:
        self.action(stage, "PromoteToProd", "Approval", "STARTED")
        self.action(stage, "PromoteToProd", "Approval", state, approver=BOB)

    def guard(self) -> None:
        self.add("approval-guard", decision="allowed", approval={"approver_arn": BOB, "source": "action-execution"})

    def deploy(self, stage: str, stack: str, state: str = "SUCCEEDED") -> None:
        self.action(stage, f"{stack}.Deploy", "Deploy", "STARTED")
        self.action(stage, f"{stack}.Deploy", "Deploy", state)

    def stack_change(self, stack: str, principal: str) -> None:
        change = {"account": "444444444444", "stack_name": stack, "source": "cloudtrail", "operation": "UpdateStack"}
        self.add("stack-change", stack_change={**change, "principal_arn": principal})


def released_through_the_new_stages(ledger: Ledger) -> None:
    ledger.transition("pipeline", "STARTED", trigger={"author_email": "alice@example.com"})
    ledger.stage("ApproveProd", "STARTED")
    ledger.approval()
    ledger.guard()
    ledger.stage("ApproveProd", "SUCCEEDED")
    ledger.stage("Prod", "STARTED")
    ledger.deploy("Prod", "Storage")
    ledger.stage("Prod", "SUCCEEDED")
    ledger.stage("ProdRelease", "STARTED")
    ledger.deploy("ProdRelease", "ReleaseLane")
    ledger.stage("ProdRelease", "SUCCEEDED")


def only(changes):
    assert len(changes) == 1, [c.change_id for c in changes]
    return changes[0]


def rules(change) -> set[str]:
    return {f.rule for f in change.flags}


def test_a_change_approved_in_approve_prod_and_deployed_in_prod_release_is_approved():
    ledger = Ledger()
    ledger.transition("pipeline", "STARTED", trigger={"author_email": "alice@example.com"})
    ledger.stage("ApproveProd", "STARTED")
    ledger.approval()
    ledger.guard()
    ledger.stage("ApproveProd", "SUCCEEDED")
    ledger.stage("ProdRelease", "STARTED")
    ledger.deploy("ProdRelease", "ReleaseLane")
    ledger.stage("ProdRelease", "SUCCEEDED")

    change = only(build_changes(ledger.records, SCOPE))

    assert change.approval_status == "approved" and change.approver == "bob@example.com"
    assert UNAPPROVED not in rules(change) and GUARD_MISSING not in rules(change)
    assert change.outcome == "succeeded"
    assert change.deploy_started is not None and change.deploy_finished is not None


def test_deploys_of_both_lanes_count_and_the_change_starts_when_it_entered_the_approval():
    ledger = Ledger()
    released_through_the_new_stages(ledger)

    change = only(build_changes(ledger.records, SCOPE))

    assert change.occurred_at == T0 + timedelta(minutes=2)  # ApproveProd STARTED
    deploys = [r for r in ledger.records if str(r.get("transition", {}).get("action")).endswith(".Deploy")]
    assert change.deploy_started == deploys[0]["occurred_at"]  # Storage.Deploy in Prod
    assert change.deploy_finished == deploys[-1]["occurred_at"]  # ReleaseLane.Deploy in ProdRelease
    assert change.outcome == "succeeded"


def test_an_approval_inside_the_prod_stage_of_older_records_still_counts():
    ledger = Ledger()
    ledger.transition("pipeline", "STARTED")
    ledger.stage("Prod", "STARTED")
    ledger.approval(stage="Prod")
    ledger.guard()
    ledger.deploy("Prod", "ReleaseLane")
    ledger.stage("Prod", "SUCCEEDED")

    change = only(build_changes(ledger.records, SCOPE))

    assert change.approval_status == "approved"
    assert UNAPPROVED not in rules(change)
    assert change.outcome == "succeeded"


def test_a_deploy_without_an_approval_in_either_place_names_both_stages():
    ledger = Ledger()
    ledger.transition("pipeline", "STARTED")
    ledger.stage("ProdRelease", "STARTED")
    ledger.deploy("ProdRelease", "ReleaseLane")
    ledger.stage("ProdRelease", "SUCCEEDED")

    change = only(build_changes(ledger.records, SCOPE))

    [flag] = [f for f in change.flags if f.rule == UNAPPROVED]
    assert "ApproveProd" in flag.message and "Prod" in flag.message


def test_the_permissions_broadening_check_approving_itself_is_no_release_approval():
    ledger = Ledger()
    ledger.transition("pipeline", "STARTED")
    ledger.stage("ApproveProd", "STARTED")
    codebuild = "arn:aws:sts::111111111111:assumed-role/CheckRole/AWSCodeBuild-1"
    ledger.action("ApproveProd", "ConfirmPermissionsBroadening.Confirm", "Approval", "SUCCEEDED", approver=codebuild)
    ledger.stage("ApproveProd", "SUCCEEDED")
    ledger.stage("ProdRelease", "STARTED")
    ledger.deploy("ProdRelease", "ReleaseLane")
    ledger.stage("ProdRelease", "SUCCEEDED")

    change = only(build_changes(ledger.records, SCOPE))

    assert change.approval_status is None
    assert UNAPPROVED in rules(change)


def test_a_rejection_in_approve_prod_is_a_change_that_deployed_nothing():
    ledger = Ledger()
    ledger.transition("pipeline", "STARTED")
    ledger.stage("ApproveProd", "STARTED")
    ledger.approval(state="FAILED")
    ledger.stage("ApproveProd", "FAILED")

    change = only(build_changes(ledger.records, SCOPE))

    assert change.outcome == "rejected at approval" and change.approval_status == "rejected"
    assert change.flags == [] and change.deploy_started is None


def test_an_approved_change_not_yet_deployed_is_in_progress_not_succeeded():
    ledger = Ledger()
    ledger.transition("pipeline", "STARTED")
    ledger.stage("ApproveProd", "STARTED")
    ledger.approval()
    ledger.guard()
    ledger.stage("ApproveProd", "SUCCEEDED")

    assert only(build_changes(ledger.records, SCOPE)).outcome == "in progress"


def test_a_person_changing_a_stack_while_the_approval_waits_is_a_direct_change():
    ledger = Ledger()
    ledger.transition("pipeline", "STARTED")
    ledger.stage("ApproveProd", "STARTED")
    ledger.stack_change(
        "Prod-Storage", "arn:aws:sts::444444444444:assumed-role/AWSReservedSSO_Admin_1/dave@example.com"
    )

    direct = [c for c in build_changes(ledger.records, SCOPE) if c.kind == "direct"]

    assert [rules(c) for c in direct] == [{DIRECT_CHANGE}]


@pytest.mark.parametrize(
    ("transition", "problem"),
    [(None, "no `transition` object"), ({"level": "stage", "stage": "Prod", "attempt": 1}, "lacks state")],
)
def test_a_record_without_a_readable_transition_is_a_finding_not_a_crash(transition, problem):
    ledger = Ledger()
    released_through_the_new_stages(ledger)
    broken = ledger.transition("stage", "SUCCEEDED", "Prod")
    if transition is None:
        del broken["transition"]
    else:
        broken["transition"] = transition

    change = only(build_changes(ledger.records, SCOPE))

    [flag] = [f for f in change.flags if f.rule == MALFORMED_EVIDENCE]
    assert broken["_key"] in flag.message and problem in flag.message and "Fix:" in flag.message
    assert broken["_key"] in change.evidence
    assert malformed_records(ledger.records) == [(broken["_key"], flag.message.split("(", 1)[1].split(")")[0])]


def test_the_report_names_a_malformed_record_that_left_no_change_behind(tmp_path):
    key = "ledger/v1/dt=2026-03-12/pipeline/DataPlatformDelivery/lost/stage/Prod/SUCCEEDED-attempt1.json"
    record = {"kind": "stage-execution", "pipeline": PIPELINE, "execution_id": "lost", "occurred_at": T0.isoformat()}
    (tmp_path / key).parent.mkdir(parents=True)
    (tmp_path / key).write_text(json.dumps(record))  # its only record, and unreadable as a transition

    report = build_report(LocalLedgerSource(tmp_path), SCOPE, now=T0)

    assert report.changes == []
    assert any(key in note and "no `transition` object" in note for note in report.notes)
