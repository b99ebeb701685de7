"""Names and numbers derived from the configuration that the CDK app and the `cicd` command must agree on.

The delivery pipeline (stacks/delivery_pipeline_stack.py) names its stages from the environments; the
rollback and audit commands find those stages by the same names. The evidence ledger keeps records for
as many days as the longest evidence retention of any environment; the audit commands that write to it
must use the same number, or a record they write would be locked for a different time.
"""

from __future__ import annotations

from collections.abc import Iterable

# Object Lock counts days; a year of evidence is the mean Gregorian year.
DAYS_PER_YEAR = 365.25


def stage_id(environment: str) -> str:
    """The CDK Stage id (and pipeline stage) of an environment: "prod" -> "Prod"."""
    return environment.capitalize()


def approval_stage(stage: str) -> str:
    """The pipeline stage holding `stage`'s manual approval and its guard: "Prod" -> "ApproveProd"."""
    return f"Approve{stage}"


def release_lane_stage(stage: str) -> str:
    """The pipeline stage of `stage`'s release lane, where it has its own: "Prod" -> "ProdRelease"."""
    return f"{stage}Release"


def ledger_retention_days(evidence_years: Iterable[float]) -> int:
    """The evidence ledger's retention: the longest of the environments' evidence retentions, in days."""
    return round(max(evidence_years) * DAYS_PER_YEAR)
