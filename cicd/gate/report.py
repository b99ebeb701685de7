"""Gate results for people (a table and the findings) and for machines (JSON, JUnit XML)."""

from __future__ import annotations

import json
import platform
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from cicd.gate.model import CheckResult, Status
from cicd.options import print_table

SYMBOL = {Status.PASSED: "PASS", Status.FAILED: "FAIL", Status.ERROR: "ERROR", Status.SKIPPED: "SKIP"}


def render_table(results: Sequence[CheckResult], total_s: float, out: TextIO) -> None:
    rows = []
    for r in results:
        first_line = r.summary.splitlines()[0] if r.summary else ""
        if r.reused and r.cache:
            first_line = f"(reused, stored {r.cache.stored_at}) {first_line}"
        rows.append((r.name, SYMBOL[r.status], f"{r.duration_s:.1f}s", first_line))
    passed = sum(r.status is Status.PASSED for r in results)
    rows.append(("total", f"{passed}/{len(results)}", f"{total_s:.1f}s", ""))
    out.write("\n")
    print_table(("check", "status", "time", "summary"), rows, right=("time",), file=out)  # cicd's one table style
    reused = [r for r in results if r.reused and r.cache]
    if reused:
        out.write("\nreused from the result cache (`--no-cache` runs them):\n")
        for r in reused:
            out.write(f"  {r.name}: {r.cache.render() if r.cache else ''}\n")
    problems = [r for r in results if r.findings or r.status is Status.ERROR]
    for r in problems:
        out.write(f"\n{SYMBOL[r.status]} {r.name}:\n")
        if r.status is Status.ERROR:
            out.write("  " + r.summary.replace("\n", "\n  ") + "\n")
        for finding in r.findings[:200]:
            marker = "" if finding.severity == "error" else "(warning) "
            out.write(f"  {marker}{finding.render()}\n")
        if len(r.findings) > 200:
            out.write(f"  ... and {len(r.findings) - 200} more (see the JSON report)\n")


def as_dict(results: Sequence[CheckResult], total_s: float, passed: bool, scope: str) -> dict[str, Any]:
    return {
        "passed": passed,
        "scope": scope,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "duration_s": round(total_s, 2),
        "checks": [
            {
                "name": r.name,
                "status": r.status.value,
                "duration_s": round(r.duration_s, 2),
                "summary": r.summary,
                "report": r.report,
                "cache": asdict(r.cache) if r.cache else None,
                "findings": [{k: v for k, v in vars(f).items() if v is not None} for f in r.findings],
            }
            for r in results
        ],
    }


def write_json(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")


def write_junit(results: Sequence[CheckResult], total_s: float, path: Path) -> None:
    """One testcase per check, so CodeBuild test reports show each check's status and findings."""
    suite = ET.Element(
        "testsuite",
        name="validation-gate",
        tests=str(len(results)),
        failures=str(sum(r.status is Status.FAILED for r in results)),
        errors=str(sum(r.status is Status.ERROR for r in results)),
        skipped=str(sum(r.status is Status.SKIPPED for r in results)),
        time=f"{total_s:.2f}",
    )
    for r in results:
        case = ET.SubElement(suite, "testcase", classname="gate", name=r.name, time=f"{r.duration_s:.2f}")
        text = "\n".join(f.render() for f in r.findings)
        if r.cache:
            properties = ET.SubElement(case, "properties")
            for field, value in asdict(r.cache).items():
                if value is not None:
                    ET.SubElement(properties, "property", name=f"cache.{field}", value=str(value))
            if r.reused:
                text = f"cache: {r.cache.render()}" + (f"\n{text}" if text else "")
        if r.status is Status.FAILED:
            ET.SubElement(case, "failure", message=r.summary).text = text
        elif r.status is Status.ERROR:
            ET.SubElement(case, "error", message=r.summary.splitlines()[0] if r.summary else "error").text = r.summary
        elif r.status is Status.SKIPPED:
            ET.SubElement(case, "skipped", message=r.summary)
        elif text:
            ET.SubElement(case, "system-out").text = text
    path.parent.mkdir(parents=True, exist_ok=True)
    root = ET.Element("testsuites")
    root.append(suite)
    tree = ET.ElementTree(root)
    ET.indent(tree)
    tree.write(path, encoding="unicode", xml_declaration=True)
