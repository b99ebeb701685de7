"""Reuse a stored pass when a check's key is unchanged; store every new pass, and nothing else.

Only passes are stored: a failed or errored check always runs again, so a broken file can never be
reported clean from the cache. A check that writes files for others (`outputs`: the release bundle, the
cloud assembly, the dbt manifest) is only reused while a local stamp says those files were written by a
run with the same key; on a fresh checkout (CodeBuild) it runs, and so the pipeline's artifacts exist.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cicd.gate.cache import CacheError, CacheStore, store_from_env
from cicd.gate.keys import KeyMaker
from cicd.gate.model import CacheNote, Check, CheckResult, Finding, GateContext, Status

STAMPS = "build/gate/stamps"


class ResultCache:
    def __init__(self, store: CacheStore, keys: KeyMaker, checks: Sequence[Check], *, lookup: bool = True) -> None:
        self.store = store
        self.keys = keys
        self.lookup_enabled = lookup
        self.by_name = {check.name: check for check in checks}
        self._pre_keys: dict[str, str] = {}

    def pre_key(self, check: Check) -> str:
        if check.name not in self._pre_keys:
            needs = {n: self.pre_key(self.by_name[n]) for n in check.needs if n in self.by_name}
            self._pre_keys[check.name] = self.keys.pre_key(check, needs)
        return self._pre_keys[check.name]

    def candidate_keys(self, check: Check) -> list[tuple[str, str]]:
        """(key, why it proves the result still holds), most specific first."""
        count = self.keys.parts(check)["input_count"]
        inputs = f"inputs unchanged ({count} files, tool locks, gate and check code)"
        candidates = []
        output_key = self.keys.output_key(check)
        if output_key is not None:
            read = ", ".join(check.build_inputs)
            candidates.append((output_key, f"what it reads from build/ is unchanged ({read}); {inputs}"))
        candidates.append((self.pre_key(check), inputs))
        if check.narrows and self.keys.ctx.changed_files is not None:
            needs = {n: self.pre_key(self.by_name[n]) for n in check.needs if n in self.by_name}
            candidates.append((self.keys.full_scope_key(check, needs), f"a full run passed with {inputs}"))
        return list(dict.fromkeys(candidates))

    def reuse(self, check: Check) -> CheckResult | None:
        """The stored pass for this check's inputs, or None when it must run."""
        if not self.lookup_enabled:
            return None
        started = time.perf_counter()
        for key, why in self.candidate_keys(check):
            try:
                entry = self.store.get(check.name, key)
            except CacheError:
                entry = None
            if entry is None or entry.get("status") != Status.PASSED.value:
                continue
            if check.outputs and not self._outputs_current(check, key):
                continue
            return CheckResult(
                check.name,
                Status.PASSED,
                time.perf_counter() - started,
                findings=[Finding(**f) for f in entry.get("findings", [])],
                summary=entry.get("summary", ""),
                report=entry.get("report"),
                cache=CacheNote(
                    "reused", key, why, stored_at=entry.get("stored_at"), original_duration_s=entry.get("duration_s")
                ),
            )
        return None

    def before_run(self, check: Check) -> None:
        self._stamp(check).unlink(missing_ok=True)  # its outputs are about to change

    def record(self, check: Check, result: CheckResult) -> CheckResult:
        """Store a pass under every key it answers for; note why anything else is not stored."""
        keys = [key for key, _ in self.candidate_keys(check)]
        if check.narrows and self.keys.ctx.changed_files is not None:
            keys = keys[:-1]  # a narrowed pass does not stand for the full run
        if result.status is not Status.PASSED:
            result.cache = CacheNote("not stored", keys[0], f"{result.status.value}: only passes are stored")
            return result
        entry = _entry(check, result, keys[0])
        try:
            for key in keys:
                self.store.put(check.name, key, entry)
        except (CacheError, OSError) as exc:
            result.cache = CacheNote("not stored", keys[0], str(exc))
            return result
        if check.outputs:
            stamp = self._stamp(check)
            stamp.parent.mkdir(parents=True, exist_ok=True)
            stamp.write_text(json.dumps(keys))
        result.cache = CacheNote("stored", keys[0], f"in {self.store.describe()}", stored_at=entry["stored_at"])
        return result

    def _stamp(self, check: Check) -> Path:
        return self.keys.root / STAMPS / f"{check.name}.json"

    def _outputs_current(self, check: Check, key: str) -> bool:
        try:
            stamped = json.loads(self._stamp(check).read_text())
        except (OSError, json.JSONDecodeError):
            return False
        return key in stamped and all((self.keys.root / path).exists() for path in check.outputs)


def _entry(check: Check, result: CheckResult, key: str) -> dict[str, Any]:
    return {
        "check": check.name,
        "key": key,
        "status": result.status.value,
        "summary": result.summary,
        "report": result.report,
        "duration_s": round(result.duration_s, 2),
        "stored_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "findings": [{k: v for k, v in asdict(f).items() if v is not None} for f in result.findings],
    }


def result_cache(
    ctx: GateContext, checks: Sequence[Check], env: Mapping[str, str], *, use_stored: bool = True
) -> ResultCache:
    """The run's cache from GATE_CACHE_URI / GATE_CACHE_READONLY; use_stored=False (--no-cache) runs every
    check but still stores the passes."""
    store = ctx.store if ctx.store is not None else store_from_env(ctx.root, env)
    return ResultCache(store, KeyMaker.of(ctx, env), checks, lookup=use_stored)
