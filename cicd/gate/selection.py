"""Which test modules a change can affect, by imports and by file reads, never by folder names alone.

tests/ mirrors the source tree, but a module's assertions often live elsewhere (the monitoring
dashboards construct is asserted on in tests/stacks; the ledger's layout in tests/cicd/audit). So a
changed file selects every test module that reaches it through the import graph, directly or through
conftest.py, or that (through what it imports) names the file or a folder above it in a string, the
way data files are read. When that finds nothing for a data file, the mirrored test folder runs; a change
to what every test depends on runs the whole suite.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from cicd.gate.imports import ImportGraph, repo_files

# Everything runs against these (the toolchain, pytest's settings, the CDK app and its settings, the
# typed config every stack and DAG test loads): a change to one of them runs the whole suite.
WHOLE_SUITE_TRIGGERS = (
    "pyproject.toml",
    "requirements*",
    "*.lock",
    "Makefile",
    "package.json",
    "package-lock.json",
    "app.py",
    "cdk.json",
    "config/*",
)


@dataclass
class TestSelection:
    """Test modules to run; `whole_suite` means all of them (then `tests` is empty)."""

    whole_suite: bool
    tests: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)  # changed file -> why it selected what it did

    def describe(self) -> str:
        return "; ".join(f"{path}: {why}" for path, why in sorted(self.reasons.items()))


def is_test_module(path: str) -> bool:
    name = PurePosixPath(path).name
    is_test = name.startswith("test_") or name.endswith("_test.py")
    return path.startswith("tests/") and name.endswith(".py") and is_test


def _mirrored_tests(root: Path, path: str, graph: ImportGraph) -> set[str]:
    """Test modules of the nearest existing folder under tests/ that mirrors the file's folder."""
    folder = PurePosixPath("tests", path).parent
    while folder != PurePosixPath("tests") and not (root / folder).is_dir():
        folder = folder.parent
    if folder == PurePosixPath("tests"):
        return set()
    return {p for p in graph.sources if is_test_module(p) and p.startswith(f"{folder}/")}


def select_tests(root: Path, changed: Iterable[str], graph: ImportGraph | None = None) -> TestSelection:
    """The test modules that can observe any of the changed files."""
    changed = sorted(changed)
    triggers = [f for f in changed if any(fnmatch.fnmatch(f, pattern) for pattern in WHOLE_SUITE_TRIGGERS)]
    if triggers:
        return TestSelection(True, reasons=dict.fromkeys(triggers, "every test depends on it: the whole suite"))
    graph = graph or ImportGraph(root, repo_files(root))
    selected: set[str] = set()
    reasons: dict[str, str] = {}
    for path in changed:
        if path.startswith("tests/") and not path.endswith(".py"):
            seeds = graph.readers_of(path)
        elif path.endswith(".py"):
            seeds = {path} | graph.readers_of(path) | graph.importers_by_name(path)
        else:
            seeds = graph.readers_of(path)
        tests = {p for p in graph.importers(seeds) if is_test_module(p) and (root / p).exists()}
        how = "imported or read by"
        if not tests and not path.endswith(".py"):
            tests = _mirrored_tests(root, path, graph)
            how = "no module names it; its mirrored test folder:"
            if not tests:
                reasons[path] = "nothing names it and no test folder mirrors it: the whole suite"
                return TestSelection(True, reasons=reasons)
        reasons[path] = f"{how} {len(tests)} test module(s)" if tests else "no test module reaches it"
        selected |= tests
    return TestSelection(False, sorted(selected), reasons)
