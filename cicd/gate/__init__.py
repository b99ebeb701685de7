"""The validation gate: a registry of checks, each running a real tool over the repository."""

from cicd.gate.model import CacheNote, Check, CheckResult, Finding, GateContext, Status, ToolError

__all__ = ["CacheNote", "Check", "CheckResult", "Finding", "GateContext", "Status", "ToolError"]
