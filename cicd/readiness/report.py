"""The pack's report for people (findings grouped by rule) and for machines (JSON)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any, TextIO

from cicd.readiness.findings import Finding
from cicd.readiness.pack import Report


def by_rule(findings: list[Finding]) -> dict[str, list[Finding]]:
    grouped: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        grouped[finding.rule].append(finding)
    return dict(sorted(grouped.items()))


def as_dict(report: Report) -> dict[str, Any]:
    return {
        "stacks": report.stacks,
        "rules": list(report.rules),
        "passed": not report.errors,
        "open": {rule: [f.as_dict() for f in found] for rule, found in by_rule(report.findings).items()},
        "suppressed": [
            {**finding.as_dict(), "reason": suppression.reason, "suppressed_in": suppression.source}
            for finding, suppression in report.suppressed
        ],
    }


def write_json(report: Report, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(as_dict(report), indent=2) + "\n")


def write_text(report: Report, out: TextIO) -> None:
    grouped = by_rule(report.findings)
    for rule, found in grouped.items():
        out.write(f"\n{rule} ({len(found)})\n")
        for finding in found:
            level = "" if finding.severity == "error" else f"{finding.severity}: "
            out.write(f"  {level}{finding.stack} {finding.logical_id}: {finding.message}\n    Fix: {finding.fix}\n")
    verdict = "PASSED" if not report.errors else f"FAILED: {len(report.errors)} finding(s) of {len(grouped)} rule(s)"
    out.write(
        f"\ndeploy-readiness {verdict} ({report.stacks} stacks, {len(report.rules)} rules, "
        f"{len(report.suppressed)} suppressed with a reason)\n"
    )
