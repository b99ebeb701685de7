"""What every check and tool of the repository reports: a Finding, or a ToolError when it could not run.

The gate's checks, the dbt, DAG and data-service tools, and the release build share these words; they
live here so that those tools need nothing from the gate that runs them (cicd/gate imports them, never
the other way round).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    """One problem, precise enough that the author can fix it without reading the tool's log."""

    rule: str
    message: str
    file: str | None = None
    line: int | None = None
    fix: str | None = None
    severity: str = "error"  # "error" fails the check; "warning" is reported only

    def location(self) -> str:
        if self.file is None:
            return "-"
        return f"{self.file}:{self.line}" if self.line else self.file

    def render(self) -> str:
        hint = f" Fix: {self.fix}" if self.fix else ""
        return f"{self.location()}: [{self.rule}] {self.message}{hint}"


class ToolError(Exception):
    """A tool could not do its job (missing, crashed, unparseable output): the check errors."""
