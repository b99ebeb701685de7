"""A check's cache key: the hash of everything its result depends on, from the working tree.

- its input files (`Check.inputs`, by default its `paths`), with the first-party modules the Python ones
  import, transitively; untracked files count, files under build/ never do (the gate writes them);
- its own source file and what that imports (a changed check or library it calls is a different check);
- the gate's own code, the lock files of every toolchain and the Python version;
- the keys of the checks it needs, or, when it declares `build_inputs`, the content of those files instead;
- the content of its `staged_inputs` (files a step before the gate wrote) and the values of its
  `environment_inputs` (variables its tool reads);
- the --changed-since commit for checks that compare with it, and the changed files for checks that narrow.

A key that leaves something out reuses a stale pass, so every part leans towards including more.
"""

from __future__ import annotations

import fnmatch
import hashlib
import inspect
import json
import platform
import subprocess
import sys
import threading
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import ClassVar

from cicd.gate.imports import ImportGraph, file_digest, repo_files
from cicd.gate.model import Check, GateContext

TOOL_LOCKS = ("requirements*.lock", "requirements*.txt", "package-lock.json", "package.json", "pyproject.toml")
GATE_CODE = ("cicd/gate/*.py",)
SCAN_CACHE = "build/gate/import-scan.json"  # unchanged files are not parsed again (cicd/gate/imports.py)


def _hash(parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


class KeyMaker:
    """Computes keys for one gate run; file digests and the import graph are computed once."""

    _per_run: ClassVar[dict[int, KeyMaker]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def of(cls, ctx: GateContext, environment: Mapping[str, str] | None = None) -> KeyMaker:
        """The run's one KeyMaker: the result cache and the unit-tests check share its import graph.

        The result cache passes the run's environment (checks' environment_inputs are part of their keys).
        """
        with cls._lock:
            maker = cls._per_run.get(id(ctx))
            if maker is None or maker.ctx is not ctx:
                maker = cls._per_run[id(ctx)] = cls(ctx, environment)
            elif environment is not None:
                maker.environment = dict(environment)
            return maker

    def __init__(self, ctx: GateContext, environment: Mapping[str, str] | None = None) -> None:
        self.ctx = ctx
        self.environment = dict(environment or {})
        self.root = ctx.root
        self.files = [f for f in repo_files(ctx.root) if not f.startswith("build/")]
        self._digests: dict[str, str] = {}
        self._graph: ImportGraph | None = None
        self._base_commit: str | None = None

    @property
    def graph(self) -> ImportGraph:
        with self._lock:
            if self._graph is None:
                self._graph = ImportGraph(self.root, self.files, scan_cache=self.root / SCAN_CACHE)
            return self._graph

    def _staged(self, path: Path) -> str:
        # Staged packages are large (plugins.zip: ~200 MB): hashed once per run, however many keys use them.
        if path.as_posix() not in self._digests:
            self._digests[path.as_posix()] = file_digest(path)
        return self._digests[path.as_posix()]

    def digest(self, path: str) -> str:
        if path not in self._digests:
            self._digests[path] = file_digest(self.root / path)
        return self._digests[path]

    def files_hash(self, paths: set[str]) -> str:
        return _hash(sorted((p, self.digest(p)) for p in paths))

    def matching(self, patterns: tuple[str, ...]) -> list[str]:
        return [f for f in self.files if any(fnmatch.fnmatch(f, p) for p in patterns)]

    def input_files(self, check: Check) -> set[str]:
        patterns = check.paths if check.inputs is None else check.inputs
        # A check that always runs (no paths) may read anything.
        chosen = set(self.files) if check.inputs is None and not patterns else set(self.matching(patterns))
        python = {f for f in chosen if f.endswith(".py")}
        return chosen | self.graph.dependencies(python)

    def code_files(self, check: Check) -> set[str]:
        source = Path(inspect.getsourcefile(type(check)) or "")
        try:
            own = source.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            own = None  # a check defined outside this repository (tests): its class name stands in
        gate = set(self.matching(GATE_CODE))
        return self.graph.dependencies({own} if own else set()) | gate

    def base_ref_commit(self) -> str:
        if self._base_commit is None:
            proc = subprocess.run(
                ["git", "rev-parse", "--verify", f"{self.ctx.base_ref}^{{commit}}"],
                cwd=self.root,
                capture_output=True,
                text=True,
                check=False,
            )
            self._base_commit = proc.stdout.strip() if proc.returncode == 0 else f"unresolved:{self.ctx.base_ref}"
        return self._base_commit

    def parts(self, check: Check) -> dict[str, str]:
        """The key's parts, each a hash, so a report can say which one changed."""
        inputs = self.input_files(check)
        parts = {
            "check": f"{check.name}:{type(check).__qualname__}",
            "code": self.files_hash(self.code_files(check)),
            "tools": _hash([self.files_hash(set(self.matching(TOOL_LOCKS))), sys.version, platform.machine()]),
            "inputs": self.files_hash(inputs),
            "input_count": str(len(inputs)),
        }
        if check.staged_inputs:
            staged = {p for pattern in check.staged_inputs for p in self.root.glob(pattern) if p.is_file()}
            parts["staged"] = _hash(sorted((p.relative_to(self.root).as_posix(), self._staged(p)) for p in staged))
        if check.environment_inputs:
            parts["environment"] = _hash({name: self.environment.get(name) for name in check.environment_inputs})
        if check.uses_base_ref and self.ctx.base_ref:
            parts["base"] = self.base_ref_commit()
        if check.dated:
            parts["date"] = date.today().isoformat()
        if check.narrows and self.ctx.changed_files is not None:
            parts["scope"] = _hash(sorted(self.ctx.changed_files))
        if check.narrows and self.ctx.test_shard is not None:
            parts["shard"] = "{}/{}".format(*self.ctx.test_shard)  # a shard's pass never stands for the suite
        return parts

    def pre_key(self, check: Check, need_keys: dict[str, str]) -> str:
        """Known before anything runs: own parts plus the keys of the checks it needs."""
        return _hash({**self.parts(check), "needs": {n: need_keys[n] for n in check.needs}})

    def full_scope_key(self, check: Check, need_keys: dict[str, str]) -> str:
        """The key the same check would have under --all: a stored full pass also covers a narrowed run."""
        parts = {k: v for k, v in self.parts(check).items() if k != "scope"}
        return _hash({**parts, "needs": {n: need_keys[n] for n in check.needs}})

    def output_key(self, check: Check) -> str | None:
        """For checks with build_inputs, once their needs ran: own parts plus the content they read."""
        if not check.build_inputs:
            return None
        found = {p.relative_to(self.root).as_posix(): p for g in check.build_inputs for p in self.root.glob(g)}
        content = sorted((rel, file_digest(path)) for rel, path in found.items() if path.is_file())
        return _hash({**self.parts(check), "build_inputs": content})
