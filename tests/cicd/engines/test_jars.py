"""Engine jars: verified against their lock, cached by the lock's hash, refreshed only from a fresh resolution."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from cicd.engines import jars
from cicd.engines.jars import EngineJarsError, cache_folder, locked_jars, record_lock
from cicd.packages.maven import Artifact

LOCK = Path("engine/test.jars.lock.json")
JAR = b"PK a jar"


def write_lock(root: Path, sha256: str | None, **extra) -> None:
    path = root / LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = [{"coordinate": "org.example:engine:1.0", "sha256": sha256}]
    path.write_text(json.dumps({"resolve": ["org.example:engine:1.0"], "jars": entries, **extra}))


def fetch_serving(data: bytes, calls: list):
    def fetch(root: Path, dest: Path, *, lock: Path):
        calls.append(dest)
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "engine-1.0.jar").write_bytes(data)

    return fetch


def test_a_missing_cache_is_fetched_once_and_then_reused(tmp_path):
    write_lock(tmp_path, hashlib.sha256(JAR).hexdigest())
    calls: list = []
    first = locked_jars(tmp_path, LOCK, cache=tmp_path / "cache", fetch=fetch_serving(JAR, calls))
    second = locked_jars(tmp_path, LOCK, cache=tmp_path / "cache", fetch=fetch_serving(JAR, calls))
    assert first == second and first[0].read_bytes() == JAR
    assert len(calls) == 1
    assert first[0].parent == cache_folder(tmp_path, LOCK, tmp_path / "cache")


def test_a_tampered_cache_is_fetched_again(tmp_path):
    write_lock(tmp_path, hashlib.sha256(JAR).hexdigest())
    calls: list = []
    [jar] = locked_jars(tmp_path, LOCK, cache=tmp_path / "cache", fetch=fetch_serving(JAR, calls))
    jar.write_bytes(b"something else")
    locked_jars(tmp_path, LOCK, cache=tmp_path / "cache", fetch=fetch_serving(JAR, calls))
    assert len(calls) == 2 and jar.read_bytes() == JAR


def test_a_changed_lock_uses_another_cache_folder(tmp_path):
    write_lock(tmp_path, hashlib.sha256(JAR).hexdigest())
    before = cache_folder(tmp_path, LOCK, tmp_path)
    write_lock(tmp_path, hashlib.sha256(JAR).hexdigest(), comment="bumped")
    assert cache_folder(tmp_path, LOCK, tmp_path) != before


def test_a_jar_that_differs_from_the_lock_is_refused_naming_the_refresh(tmp_path):
    write_lock(tmp_path, "0" * 64)
    with pytest.raises(EngineJarsError, match="make engine-jars-lock"):
        locked_jars(tmp_path, LOCK, cache=tmp_path / "cache", fetch=fetch_serving(JAR, []))
    assert not cache_folder(tmp_path, LOCK, tmp_path / "cache").exists()


def test_recording_resolves_fresh_and_writes_every_file_of_the_closure(tmp_path):
    write_lock(tmp_path, None, transitive=True)
    calls: list = []

    def copy(coordinates, dest: Path, *, transitive: bool, fresh: bool):
        calls.append((list(coordinates), transitive, fresh))
        (dest / "engine-1.0.jar").write_bytes(JAR)
        (dest / "dependency-2.0.jar").write_bytes(b"dep")
        return [Artifact("org.example", "engine", "1.0"), Artifact("org.example", "dependency", "2.0")]

    assert record_lock(tmp_path, LOCK, copy=copy) == 2
    assert calls == [(["org.example:engine:1.0"], True, True)]
    entries = json.loads((tmp_path / LOCK).read_text())["jars"]
    assert [e["coordinate"] for e in entries] == ["org.example:dependency:2.0", "org.example:engine:1.0"]
    assert entries[1]["sha256"] == hashlib.sha256(JAR).hexdigest()


def test_a_lock_without_resolve_cannot_be_refreshed(tmp_path):
    (tmp_path / LOCK).parent.mkdir(parents=True)
    (tmp_path / LOCK).write_text(json.dumps({"jars": []}))
    with pytest.raises(EngineJarsError, match="'resolve' list"):
        record_lock(tmp_path, LOCK, copy=lambda *a, **k: [])


@pytest.mark.parametrize("lock", jars.LOCKS, ids=str)
def test_the_committed_engine_locks_hold_a_sha256_for_every_jar(lock):
    document = json.loads((jars.ROOT / lock).read_text())
    assert document["resolve"] and document["jars"]
    assert all(len(entry["sha256"] or "") == 64 for entry in document["jars"])
