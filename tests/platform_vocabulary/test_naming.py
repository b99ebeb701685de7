"""The names the pipeline, the rollback and the audit commands share, and the ledger's retention."""

from __future__ import annotations

from platform_vocabulary.naming import approval_stage, ledger_retention_days, release_lane_stage, stage_id


def test_an_environment_becomes_its_stage_and_the_stages_derived_from_it():
    assert stage_id("prod") == "Prod"
    assert approval_stage(stage_id("prod")) == "ApproveProd"
    assert release_lane_stage(stage_id("prod")) == "ProdRelease"


def test_the_ledger_keeps_evidence_as_long_as_the_longest_environment_asks():
    assert ledger_retention_days([1, 7, 1]) == 2557
    assert ledger_retention_days([1]) == 365
