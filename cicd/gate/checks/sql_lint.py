"""sqlfluff over the dbt models and singular tests (Snowflake dialect, jinja templater with dbt builtins).

With --changed-since only the changed SQL files are linted; a change to the lint configuration, the lint
library or the macros the templater loads re-lints everything, since it can change every file's result.
"""

from __future__ import annotations

import json

from cicd.gate.model import Check, Finding, GateContext, ToolError
from cicd.gate.registry import register
from cicd.gate.tools import run_tool, tool_path

LINTED = ("dbt_project/models/*.sql", "dbt_project/tests/*.sql")
CONFIG = (".sqlfluff", ".sqlfluffignore", "dbt_project/lint_library/*", "dbt_project/macros/*")
LINT_ROOTS = ["dbt_project/models", "dbt_project/tests"]


def lint_targets(ctx: GateContext) -> list[str]:
    """What to lint: everything under --all or a config change, else the changed SQL files that still exist."""
    if ctx.changed_files is None or ctx.changed(CONFIG):
        return LINT_ROOTS
    return [path for path in ctx.changed(LINTED) if ctx.path(path).exists()]


def parse_report(stdout: str, ctx: GateContext) -> list[Finding]:
    try:
        files = json.loads(stdout or "[]")
    except json.JSONDecodeError as exc:
        raise ToolError(f"sqlfluff printed output that is not JSON: {stdout[:300]}") from exc
    findings: list[Finding] = []
    for entry in files:
        for violation in entry.get("violations", []):
            code = violation.get("code") or "?"
            fixable = bool(violation.get("fixes"))
            if code in ("TMP", "PRS"):
                fix = (
                    "the file does not template or parse: add missing dbt macros to dbt_project/lint_library/dbt.py, "
                    "or fix the SQL syntax at that line"
                )
            elif fixable:
                fix = f"run `sqlfluff fix {ctx.relative(entry['filepath'])}` (rule {violation.get('name', code)})"
            else:
                fix = f"rewrite by hand; see https://docs.sqlfluff.com/en/stable/reference/rules.html#rule-{code}"
            findings.append(
                Finding(
                    rule=f"sqlfluff:{code}",
                    message=violation.get("description", ""),
                    file=ctx.relative(entry["filepath"]),
                    line=violation.get("start_line_no"),
                    fix=fix,
                    severity="warning" if violation.get("warning") else "error",
                )
            )
    return findings


@register
class SqlLint(Check):
    name = "sql-lint"
    expected_seconds = 5
    narrows = True
    description = "sqlfluff on dbt models and tests (Snowflake dialect, jinja templater; config: .sqlfluff)"
    paths = (*LINTED, *CONFIG)

    def run(self, ctx: GateContext) -> list[Finding]:
        targets = lint_targets(ctx)
        if not targets:
            self.summary_note = "no SQL file changed"
            return []
        sqlfluff = tool_path("sqlfluff", ctx.root)
        # sqlfluff exits 1 for violations and 2 for usage or internal errors; 2 is a broken tool, not a result.
        proc = run_tool(
            [sqlfluff, "lint", "--format", "json", "--disable-progress-bar", *targets],
            cwd=ctx.root,
            ok_codes=(0, 1),
            timeout_s=300,
        )
        findings = parse_report(proc.stdout, ctx)
        ctx.report_path("sql-lint.json").write_text(proc.stdout or "[]")
        self.summary_note = f"{len(targets)} path(s) linted"
        return findings
