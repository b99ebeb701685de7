"""The evidence report: the changes in a period (or an auditor's random sample of them), as
Markdown for people, CSV for spreadsheets and JSON for tools."""

from __future__ import annotations

import csv
import io
import json
import random
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cicd.audit import changes as c
from cicd.audit.changes import Change, Scope, build_changes, malformed_records
from cicd.audit.source import LedgerSource, load

# SOC 2 (2017 Trust Services Criteria, revised points of focus) CC8.1 points each control evidences.
CC81_POINTS: dict[str, tuple[str, ...]] = {
    c.SELF_APPROVAL: ("Authorizes Changes", "Approves System Changes"),
    c.UNAPPROVED: ("Authorizes Changes", "Approves System Changes", "Deploys System Changes"),
    c.GUARD_MISSING: ("Approves System Changes",),
    c.SKIPPED_CHECK: ("Tests System Changes",),
    c.FAILED_CHECK: ("Tests System Changes", "Deploys System Changes"),
    c.DIRECT_CHANGE: (
        "Tracks System Changes",
        "Deploys System Changes",
        "Creates Baseline Configuration of IT Technology",
    ),
    c.UNREVIEWED_BREAK_GLASS: ("Provides for Changes Necessary in Emergency Situations",),
    c.MALFORMED_EVIDENCE: ("Tracks System Changes",),
}

# The row kind and flag of a ledger key with more than one version.
TAMPERED = "tampered-record"

CSV_COLUMNS = (
    "change_id",
    "kind",
    "pipeline",
    "occurred_at",
    "commit",
    "author",
    "release_id",
    "content_sha256",
    "checks_passed",
    "checks_total",
    "checks_not_passed",
    "approver",
    "approver_arn",
    "approved_at",
    "approval_comment",
    "deploy_started",
    "deploy_finished",
    "outcome",
    "rollback",
    "break_glass_incident",
    "break_glass_review",
    "flags",
    "evidence_records",
)


@dataclass(frozen=True)
class Report:
    scope: Scope
    source: str
    generated_at: datetime
    records_read: int
    population: list[Change]
    changes: list[Change]  # the population, or the sample drawn from it
    sample_size: int | None = None
    seed: int | None = None
    notes: list[str] = field(default_factory=list)
    # Ledger keys with more than one version (a write-once record overwritten or deleted); None when
    # the source cannot tell (a local copy).
    tampered: dict[str, int] | None = None

    @property
    def flagged(self) -> list[Change]:
        return [ch for ch in self.changes if ch.flags]

    def flag_counts(self, changes: list[Change]) -> Counter[str]:
        return Counter(flag.rule for ch in changes for flag in {f.rule: f for f in ch.flags}.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "report": {
                "environment": self.scope.env,
                "pipeline_stage": self.scope.stage,
                "account": self.scope.account,
                "since": self.scope.since.isoformat(),
                "until": self.scope.until.isoformat(),
                "generated_at": self.generated_at.isoformat(timespec="seconds"),
                "ledger": self.source,
                "records_read": self.records_read,
                "population": len(self.population),
                "population_flagged": sum(1 for ch in self.population if ch.flags),
                "sample_size": self.sample_size,
                "seed": self.seed,
                "shown": len(self.changes),
                "flag_counts": dict(sorted(self.flag_counts(self.changes).items())),
                "controls": {rule: {"means": RULES_TEXT[rule], "cc8_1": list(CC81_POINTS[rule])} for rule in c.RULES},
                "notes": self.notes,
                "versions_checked": self.tampered is not None,
                "tampered_records": self.tampered or {},
            },
            "changes": [ch.as_dict() for ch in self.changes],
        }


RULES_TEXT = c.RULES


def draw_sample(population: list[Change], size: int, seed: int) -> list[Change]:
    """A simple random sample without replacement, reproducible from the seed, shown in time order."""
    if size < 1:
        raise ValueError(f"--sample must be at least 1 (got {size})")
    ordered = sorted(population, key=lambda ch: (ch.occurred_at, ch.change_id))
    chosen = random.Random(seed).sample(ordered, min(size, len(ordered)))  # noqa: S311 - audit sampling, not crypto
    return sorted(chosen, key=lambda ch: (ch.occurred_at, ch.change_id))


def build_report(
    source: LedgerSource,
    scope: Scope,
    *,
    sample: int | None = None,
    seed: int | None = None,
    lookback_days: int = 30,
    lookahead_days: int = 7,
    now: datetime | None = None,
) -> Report:
    if scope.until < scope.since:
        raise ValueError(f"--until {scope.until} is before --since {scope.since}")
    ledger = load(
        source, since=scope.since, until=scope.until, lookback_days=lookback_days, lookahead_days=lookahead_days
    )
    population = build_changes(ledger.records, scope)
    notes = [
        f"Ledger partitions read: {ledger.first_day} to {ledger.last_day} (the period plus {lookback_days} days "
        f"before, for approvals and builds, and {lookahead_days} days after, for outcomes and rollbacks).",
    ]
    malformed = malformed_records(ledger.records)
    if malformed:
        notes.append(
            f"{len(malformed)} ledger record(s) could not be read as pipeline transitions and were left out "
            "(a change they alone recorded has no row): "
            + "; ".join(f"{key} ({problem})" for key, problem in malformed)
        )
    if ledger.tampered is None:
        notes.append(
            "Record versions were not checked (a local copy keeps one version per key): run the report against "
            "the bucket to detect overwritten or deleted records."
        )
    shown, used_seed = population, None
    if sample is not None:
        used_seed = seed if seed is not None else secrets.randbelow(2**31)
        shown = draw_sample(population, sample, used_seed)
    return Report(
        scope=scope,
        source=source.describe(),
        generated_at=now or datetime.now(UTC),
        records_read=len(ledger.records),
        population=population,
        changes=shown,
        sample_size=sample,
        seed=used_seed,
        notes=notes,
        tampered=ledger.tampered,
    )


def _when(value: str | datetime | None) -> str:
    if value is None:
        return "-"
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _checks(change: Change) -> str:
    if change.checks is None:
        return "n/a (rollback)" if change.kind == "rollback" else ("-" if change.kind == "direct" else "no report")
    text = f"{change.checks['passed']}/{change.checks['total']} passed"
    if change.checks.get("not_passed"):
        text += " (" + ", ".join(change.checks["not_passed"]) + ")"
    return text


def _cell(value: object) -> str:
    return str(value if value not in (None, "") else "-").replace("|", "\\|").replace("\n", " ")


def render_markdown(report: Report) -> str:
    sections = (_summary_md, _tampering_md, _controls_md, _changes_md, _failed_controls_md, _details_md, _notes_md)
    return "".join(section(report) for section in sections)


def _summary_md(report: Report) -> str:
    scope = report.scope
    population_flagged = sum(1 for ch in report.population if ch.flags)
    account = scope.account or f"any (stack names {scope.stage}-*)"
    lines = [
        f"# Change evidence report: {scope.env}\n\n",
        "| | |\n|---|---|\n",
        f"| Period (UTC) | {scope.since} to {scope.until} |\n",
        f"| Pipeline stage / account | {scope.stage} / {account} |\n",
        f"| Ledger | `{report.source}` ({report.records_read} records read) |\n",
        f"| Generated | {_when(report.generated_at)} UTC |\n",
        f"| Changes in period | {len(report.population)} ({population_flagged} with a failed control) |\n",
    ]
    if report.sample_size is not None:
        lines.append(
            f"| Sample | {len(report.changes)} drawn at random from {len(report.population)}, seed {report.seed} "
            f"(`--sample {report.sample_size} --seed {report.seed}` redraws the same sample) |\n"
        )
    lines.append(f"| Changes shown with a failed control | {len(report.flagged)} of {len(report.changes)} |\n\n")
    return "".join(lines)


def _tampering_md(report: Report) -> str:
    return _tampering_markdown(report.tampered)


def _controls_md(report: Report) -> str:
    counts = report.flag_counts(report.changes)
    head = "## Controls\n\n| Flag | Fails when | SOC 2 CC8.1 points of focus | Changes flagged |\n|---|---|---|---|\n"
    return head + "".join(
        f"| `{rule}` | {means} | {'; '.join(CC81_POINTS[rule])} | {counts.get(rule, 0)} |\n"
        for rule, means in c.RULES.items()
    )


def _changes_md(report: Report) -> str:
    lines = [
        "\n## Changes\n\n",
        "| Change | Type | Commit | Author | Checks | Approver | Approved | Deployed | Outcome | Rollback | Flags |\n",
        "|---|---|---|---|---|---|---|---|---|---|---|\n",
    ]
    for ch in report.changes:
        flags = ", ".join(sorted({f"`{f.rule}`" for f in ch.flags})) or "none"
        row = [
            ch.change_id if ch.kind == "direct" else ch.change_id[:8],
            ch.kind,
            (ch.commit or "")[:12],
            ch.author,
            _checks(ch),
            ch.approver,
            _when(ch.approved_at),
            _when(ch.deploy_started) if ch.deploy_started else "not deployed",
            ch.outcome,
            ch.rollback,
        ]
        lines.append("| " + " | ".join(_cell(v) for v in row) + f" | {flags} |\n")
    return "".join(lines)


def _failed_controls_md(report: Report) -> str:
    if not report.flagged:
        return ""
    lines = ["\n## Failed controls\n"]
    for ch in report.flagged:
        lines.append(f"\n### {ch.change_id}\n\n")
        lines += [f"- **{flag.rule}**: {flag.message}\n" for flag in ch.flags]
        lines.append(f"- evidence: {len(ch.evidence)} ledger records, e.g. `{ch.evidence[0]}`\n" if ch.evidence else "")
    return "".join(lines)


def _details_md(report: Report) -> str:
    lines = ["\n## Change details\n"]
    for ch in report.changes:
        lines.append(f"\n**{ch.change_id}** ({ch.kind}, {ch.pipeline or 'no pipeline'})  \n")
        lines += [f"{name}: {value}  \n" for name, value in _details(ch).items() if value]
    return "".join(lines)


def _details(ch: c.Change) -> dict[str, object]:
    """One change's facts as the details section names them; empty ones are left out."""
    release = f"{ch.release_id} (content sha256 {ch.content_sha256[:16]}…)" if ch.content_sha256 else ch.release_id
    return {
        "release": release,
        "commit": ch.commit,
        "approval": (
            f"{ch.approval_status} by {ch.approver_arn}"
            + (f" at {_when(ch.approved_at)}" if ch.approved_at else "")
            + (f" (source: {ch.approval_source})" if ch.approval_source else "")
            if ch.approver_arn
            else None
        ),
        "approval comment": ch.approval_comment,
        "deploy": f"{_when(ch.deploy_started)} → {_when(ch.deploy_finished)}" if ch.deploy_started else None,
        "gate report": ch.checks.get("report") if ch.checks else None,
        "templates": ", ".join(f"{k} {v[:12]}" for k, v in sorted(ch.template_hashes.items())) or None,
        "break-glass": _break_glass_text(ch.break_glass) if ch.break_glass else None,
        "rollback": ch.rollback,
        "notes": "; ".join(ch.notes) or None,
        "evidence records": len(ch.evidence),
    }


def _break_glass_text(glass: dict[str, Any]) -> str:
    review = glass.get("review")
    reviewed = f"{review['decision']} by {review['reviewer']}" if review else "none"
    return f"{glass['incident']} by {glass['approver']}; review: {reviewed}"


def _notes_md(report: Report) -> str:
    return (
        "\n## Notes\n\n"
        + "".join(f"- {note}\n" for note in report.notes)
        + "- Every record is a write-once object in an S3 Object Lock bucket (COMPLIANCE mode); S3 keeps a SHA-256 "
        "checksum of each, so `aws s3api head-object --checksum-mode ENABLED` re-verifies any record listed here.\n"
    )


def _tampering_markdown(tampered: dict[str, int] | None) -> str:
    if not tampered:
        return ""
    lines = [
        f"## TAMPERING DETECTED: {len(tampered)} ledger record(s) overwritten or deleted\n\n",
        "Each record is written once; these keys have more than one version or a delete marker, so what a "
        "plain read returns may not be what was recorded. Treat this as a security incident and compare every "
        "version (`aws s3api list-object-versions --prefix <key>`); the report below is built from the latest.\n\n",
        "| Key | Versions and delete markers |\n|---|---|\n",
        *(f"| `{key}` | {count} |\n" for key, count in tampered.items()),
        "\n",
    ]
    return "".join(lines)


def render_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for ch in report.changes:
        glass = ch.break_glass or {}
        review = glass.get("review") or {}
        writer.writerow(
            {
                "change_id": ch.change_id,
                "kind": ch.kind,
                "pipeline": ch.pipeline,
                "occurred_at": ch.occurred_at.isoformat(),
                "commit": ch.commit,
                "author": ch.author,
                "release_id": ch.release_id,
                "content_sha256": ch.content_sha256,
                "checks_passed": (ch.checks or {}).get("passed"),
                "checks_total": (ch.checks or {}).get("total"),
                "checks_not_passed": "; ".join((ch.checks or {}).get("not_passed") or []),
                "approver": ch.approver,
                "approver_arn": ch.approver_arn,
                "approved_at": ch.approved_at,
                "approval_comment": ch.approval_comment,
                "deploy_started": ch.deploy_started,
                "deploy_finished": ch.deploy_finished,
                "outcome": ch.outcome,
                "rollback": ch.rollback,
                "break_glass_incident": glass.get("incident"),
                "break_glass_review": f"{review.get('decision')} by {review.get('reviewer')}" if review else None,
                "flags": "; ".join(f"{f.rule}: {f.message}" for f in ch.flags),
                "evidence_records": len(ch.evidence),
            }
        )
    for key, count in (report.tampered or {}).items():
        writer.writerow(
            {"change_id": key, "kind": TAMPERED, "flags": f"{TAMPERED}: {count} versions of a write-once record"}
        )
    return out.getvalue()


def render_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2, sort_keys=False) + "\n"


RENDERERS = {"md": render_markdown, "csv": render_csv, "json": render_json}
