"""Per-test-module result reuse: a module whose key is unchanged reuses its stored pass; only the rest run.

A test module's key hashes, as they are in the working tree:
- its import closure (what it imports, transitively, with the conftest.py files above it: `ImportGraph`);
- the data files that closure names (`ImportGraph.named_files`: fixtures, the DAG folder, dbt models,
  cdk.json), the same relation --changed-since uses to select tests, so reuse and selection agree;
- what every test depends on (`WHOLE_SUITE_TRIGGERS`: pyproject, locks, app.py, cdk.json, config/);
- the tool locks, the Python version, the marker expression, and this module's and the plugin's code.

Why our own keys and not pytest-testmon: testmon keys tests by the lines coverage.py saw them execute. That
misses what these tests depend on most: files read as data (specs, SQL, fixtures, cdk.json) and code run in
subprocesses (the DAG probe, dbt, the CDK CLI, ruff); it slows every test by tracing; its SQLite database is
local and cannot be shared through the gate's S3 store; and a second notion of "what depends on what"
beside the gate's own would drift from it. These keys reuse the gate's import graph, are computed from the
source without running anything, and live in the same store as the checks' results.

Only passes are stored: a module with any failing test, setup error or collection error runs again.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cicd.gate.cache import CacheError, CacheStore
from cicd.gate.keys import TOOL_LOCKS, KeyMaker
from cicd.gate.selection import WHOLE_SUITE_TRIGGERS

STORE_NAME = "unit-test-module"  # entries live beside the checks' in the gate's result store
KEY_CODE = ("cicd/gate/testreuse.py", "cicd/gate/pytest_outcomes.py")


def _hash(parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


class TestModuleKeys:
    """Keys of test modules for one gate run; the import graph and file digests come from the KeyMaker."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, keys: KeyMaker, markers: str) -> None:
        self.keys = keys
        shared = set(keys.matching(WHOLE_SUITE_TRIGGERS)) | set(keys.matching(TOOL_LOCKS)) | set(KEY_CODE)
        self._shared = _hash([keys.files_hash(shared), sys.version, markers])
        self._named: dict[str, set[str]] = {}

    def inputs(self, module: str) -> set[str]:
        """The files whose content decides the module's result."""
        closure = self.keys.graph.dependencies({module})
        data: set[str] = set()
        for source in closure:
            if source not in self._named:
                self._named[source] = self.keys.graph.named_files(source)
            data |= self._named[source]
        return closure | data

    def key(self, module: str) -> str:
        return _hash({"module": module, "inputs": self.keys.files_hash(self.inputs(module)), "shared": self._shared})


@dataclass
class ModuleOutcome:
    failed: bool
    tests: int = 0
    seconds: float = 0.0
    complete: bool = True  # ran to its end (a killed run leaves the module it was in incomplete)


@dataclass
class Partition:
    """The test modules to run, and those whose stored pass still holds (module -> stored entry)."""

    run: list[str]
    reused: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)

    def expected_seconds(self, default_per_module: float) -> float:
        return default_per_module * len(self.run)


class TestModuleCache:
    __test__ = False

    def __init__(self, store: CacheStore, keys: TestModuleKeys, *, lookup: bool) -> None:
        self.store = store
        self.keys = keys
        self.lookup = lookup  # False under --no-cache: run everything, still store the passes

    def partition(self, modules: Iterable[str]) -> Partition:
        result = Partition(run=[])
        for module in sorted(modules):
            key = result.keys[module] = self.keys.key(module)
            entry = self._get(key) if self.lookup else None
            if entry is not None and entry.get("status") == "passed" and entry.get("module") == module:
                result.reused[module] = entry
            else:
                result.run.append(module)
        return result

    def _get(self, key: str) -> dict[str, Any] | None:
        try:
            return self.store.get(STORE_NAME, key)
        except CacheError:
            return None

    def record(self, partition: Partition, outcomes: dict[str, ModuleOutcome]) -> int:
        """Store a pass for each module that ran and failed nothing; returns how many were stored."""
        stored = 0
        now = datetime.now(UTC).isoformat(timespec="seconds")
        for module in partition.run:
            outcome = outcomes.get(module)
            if outcome is None or outcome.failed or not outcome.complete:
                continue  # failures are never stored; a module pytest never finished proves nothing
            entry = {
                "module": module,
                "status": "passed",
                "tests": outcome.tests,
                "seconds": round(outcome.seconds, 3),
                "stored_at": now,
            }
            try:
                self.store.put(STORE_NAME, partition.keys[module], entry)
            except (CacheError, OSError):
                return stored  # the result stands; it is just not kept
            stored += 1
        return stored


def read_outcomes(path: Path) -> dict[str, ModuleOutcome]:
    """What cicd.gate.pytest_outcomes wrote; nothing when pytest did not get that far."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return {
        module: ModuleOutcome(
            bool(entry["failed"]), int(entry["tests"]), float(entry["seconds"]), bool(entry.get("complete", False))
        )
        for module, entry in data.get("modules", {}).items()
    }


def test_modules(files: Iterable[str], patterns: tuple[str, ...] = ("tests/*",)) -> list[str]:
    from cicd.gate.selection import is_test_module

    return sorted(f for f in files if is_test_module(f) and any(fnmatch.fnmatch(f, p) for p in patterns))
