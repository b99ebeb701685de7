"""Pass or fail for a data diff: it informs, except where a published contract's data moves without a review.

A contracted model (an enforced contract: the marts) fails the check when its key set changes (rows appear or
disappear) or when the share of its rows whose values change exceeds its threshold, `meta.data_diff.
max_changed_share` (0-1; the marts' default is in dbt_project.yml), until dbt_project/data_changes.yml
acknowledges that change. Acknowledgements are read and expire like the schema-change ones (cicd/dbt/
acknowledgements.py): once the change is in the merge base, the entry matches nothing and the check warns to
delete it. Every other change is reported as a warning, so it shows in the gate without failing it. A contracted
model added or deleted is the schema-compatibility check's to judge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cicd.dbt import acknowledgements
from cicd.dbt.datadiff.run import ModelDiff
from platform_vocabulary.findings import Finding

ACKNOWLEDGEMENTS = Path("dbt_project/data_changes.yml")
RULES = {
    "key-set-changed": "rows of a contracted model appear or disappear",
    "rows-changed": "more rows of a contracted model change value than its threshold allows",
}
ACK_FILE = acknowledgements.AckFile(ACKNOWLEDGEMENTS, RULES, "data-diff", "the merge base")
THRESHOLD_FIX = "set config: meta: data_diff: max_changed_share: to a number from 0 to 1 (e.g. 0.05 for 5 %)"


@dataclass
class ModelVerdict:
    status: str  # fails | acknowledged | within threshold | informs | no change | not compared
    detail: str
    rules: list[str] = field(default_factory=list)


@dataclass
class Verdict:
    by_model: dict[str, ModelVerdict]
    findings: list[Finding]

    @property
    def failing(self) -> list[str]:
        return [uid for uid, v in self.by_model.items() if v.status == "fails"]


def changed_share(diff: ModelDiff) -> float | None:
    comparison = diff.comparison
    if comparison is None or comparison.compared_by != "key" or not comparison.rows_base:
        return None
    matched = comparison.rows_base - comparison.only_base
    return comparison.changed_rows / matched if matched else None


def threshold(diff: ModelDiff) -> tuple[float | None, Finding | None]:
    settings = diff.meta.get("data_diff")
    if settings is None:
        return None, None
    raw: Any = settings.get("max_changed_share") if isinstance(settings, dict) else settings
    if isinstance(raw, int | float) and not isinstance(raw, bool) and 0 <= raw <= 1:
        return float(raw), None
    problem = Finding(
        rule="data-diff:invalid-threshold",
        message=f"{diff.name}: meta.data_diff.max_changed_share is {raw!r}, not a share from 0 to 1",
        file=diff.file,
        fix=THRESHOLD_FIX,
    )
    return None, problem


def _summary(diff: ModelDiff) -> str:
    comparison = diff.comparison
    if comparison is None:
        return diff.error or diff.state
    parts = []
    if comparison.only_base:
        parts.append(f"{comparison.only_base} row(s) only in base")
    if comparison.only_head:
        parts.append(f"{comparison.only_head} row(s) only in head")
    if comparison.changed_rows:
        columns = ", ".join(c.column for c in comparison.columns)
        parts.append(f"{comparison.changed_rows} row(s) changed ({columns})")
    if comparison.schema.changed:
        parts.append("schema changed")
    return "; ".join(parts) or "no change"


def _breaches(diff: ModelDiff, limit: float | None) -> list[tuple[str, str]]:
    comparison = diff.comparison
    if not diff.contracted or comparison is None or diff.state != "changed":
        return []
    found = []
    if comparison.only_base or comparison.only_head:
        found.append(("key-set-changed", f"{comparison.only_base} key(s) gone, {comparison.only_head} key(s) new"))
    share = changed_share(diff)
    if share is not None and limit is not None and share > limit:
        found.append(("rows-changed", f"{share:.1%} of rows changed value, more than {limit:.1%}"))
    return found


def decide(models: list[ModelDiff], acks_path: Path) -> Verdict:
    acks, findings = acknowledgements.load(acks_path, ACK_FILE)
    used: set[int] = set()
    by_model: dict[str, ModelVerdict] = {}
    for diff in models:
        limit, problem = threshold(diff)
        if problem:
            findings.append(problem)
        if diff.state in ("failed", "not compared"):
            by_model[diff.unique_id] = ModelVerdict("not compared", diff.error or diff.state)
            if diff.state == "failed":
                findings.append(
                    Finding(
                        rule="data-diff:not-built",
                        message=f"{diff.name}: {diff.error}",
                        file=diff.file,
                        fix="the dbt-build check reports why a head model fails; a base model that fails is the "
                        "merge base's problem (rebase, or diff with `cicd dbt diff --base <ref>`)",
                        severity="warning",
                    )
                )
            continue
        if diff.state == "unchanged":
            by_model[diff.unique_id] = ModelVerdict("no change", "same rows and values")
            continue
        open_breaches: list[tuple[str, str]] = []
        acknowledged: list[tuple[str, str]] = []
        for rule, detail in _breaches(diff, limit):
            matching = [i for i, ack in enumerate(acks) if ack.matches(diff.name, rule)]
            used.update(matching)
            (acknowledged if matching else open_breaches).append((rule, detail))
        summary = _summary(diff)
        if open_breaches:
            rules = [rule for rule, _ in open_breaches]
            detail = "; ".join(d for _, d in open_breaches)
            by_model[diff.unique_id] = ModelVerdict("fails", detail, rules)
            for rule, rule_detail in open_breaches:
                findings.append(
                    Finding(
                        rule=f"data-diff:{rule}",
                        message=f"{diff.name} (enforced contract): {rule_detail}; {summary}",
                        file=diff.file,
                        fix=f"if intended, add a reviewed acknowledgement (model: {diff.name}, change: {rule}, "
                        f"reason, approved_by) to {ACKNOWLEDGEMENTS.as_posix()}; else fix the SQL "
                        "(examples in build/gate/data-diff.md)",
                    )
                )
            continue
        if acknowledged:
            rules = [rule for rule, _ in acknowledged]
            by_model[diff.unique_id] = ModelVerdict("acknowledged", "; ".join(d for _, d in acknowledged), rules)
        elif diff.contracted and limit is not None and diff.state == "changed":
            share = changed_share(diff) or 0.0
            by_model[diff.unique_id] = ModelVerdict("within threshold", f"{share:.1%} changed, limit {limit:.1%}")
        else:
            by_model[diff.unique_id] = ModelVerdict("informs", summary)
        findings.append(
            Finding(
                rule="data-diff:changed",
                message=f"{diff.name}: {summary}",
                file=diff.file,
                fix="review the examples in build/gate/data-diff.md (informational)",
                severity="warning",
            )
        )
    findings.extend(acknowledgements.unused(acks, used, ACK_FILE))
    return Verdict(by_model, findings)
