"""The Maven jars a local engine runs on: pinned by a lock, fetched once through Maven, cached by the lock's hash.

A lock here has the shape of pipeline_assets/spark/jars.lock.json (every jar with its sha256) plus what a
refresh resolves: `resolve` (coordinates) and `transitive` (their whole runtime closure, or exactly those).
`record_lock` re-resolves in an empty local Maven repository (every file checked against the repository's
published checksum) and writes the sha256 of each file; `locked_jars` fetches by coordinate and trusts only
those sha256. The cache folder is named for the lock's content, so a changed lock never reads a stale folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cicd.packages.locks import LockError, load_jars
from cicd.packages.maven import Artifact, copy_artifacts
from cicd.packages.staging import StagingError, fetch_jars, verify_staged_jars

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
KAFKA_BROKER_LOCK = Path("cicd/engines/kafka-broker.jars.lock.json")
# S3A for local Spark (EMR has EMRFS for s3://): hadoop-aws of pyspark's Hadoop (3.3.4) and the AWS SDK v1
# modules it calls, instead of the 280 MB aws-java-sdk-bundle; Spark's own jars provide Jackson and httpclient.
SPARK_S3A_LOCK = Path("cicd/engines/spark-s3a.jars.lock.json")
CACHE_VARIABLE = "ENGINE_JAR_CACHE"

Fetch = Callable[..., Any]


class EngineJarsError(RuntimeError):
    pass


def cache_root() -> Path:
    if os.environ.get(CACHE_VARIABLE):
        return Path(os.environ[CACHE_VARIABLE])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "data-platform" / "jars"


def cache_folder(root: Path, lock: Path, cache: Path | None = None) -> Path:
    digest = hashlib.sha256((root / lock).read_bytes()).hexdigest()[:16]
    name = lock.name.removesuffix(".json").removesuffix(".lock").removesuffix(".jars")
    return (cache or cache_root()) / f"{name}-{digest}"


def locked_jars(root: Path, lock: Path, *, cache: Path | None = None, fetch: Fetch = fetch_jars) -> list[Path]:
    """The lock's jar files, each verified against its sha256; Maven is asked only when the cache lacks them."""
    try:
        jars = load_jars(root, lock)
    except LockError as exc:
        raise EngineJarsError(str(exc)) from exc
    folder = cache_folder(root, lock, cache)
    try:
        verify_staged_jars(root, folder, lock=lock)
    except StagingError:
        folder.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        try:
            fetch(root, scratch, lock=lock)
            verify_staged_jars(root, scratch, lock=lock)
            shutil.rmtree(folder, ignore_errors=True)
            scratch.replace(folder)
        except StagingError as exc:
            raise EngineJarsError(f"{exc} (refresh the lock with `make engine-jars-lock`)") from exc
        except OSError:
            verify_staged_jars(root, folder, lock=lock)  # another process put the same verified jars there first
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return [folder / jar.file for jar in jars]


def classpath(jars: list[Path]) -> str:
    return os.pathsep.join(str(path) for path in jars)


def record_lock(root: Path, lock: Path, *, copy: Callable[..., list[Artifact]] = copy_artifacts) -> int:
    """Re-resolve the lock's `resolve` coordinates in an empty Maven repository and record every file's sha256."""
    path = root / lock
    try:
        document = json.loads(path.read_text())
        wanted, transitive = list(document["resolve"]), bool(document.get("transitive", False))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EngineJarsError(f"{lock}: needs a 'resolve' list of coordinates to refresh ({exc})") from exc
    with tempfile.TemporaryDirectory(prefix="engine-jars-") as scratch:
        artifacts = copy(wanted, Path(scratch), transitive=transitive, fresh=True)
        entries = [
            {"coordinate": a.coordinate, "sha256": hashlib.sha256((Path(scratch) / a.file).read_bytes()).hexdigest()}
            for a in sorted(artifacts, key=lambda a: a.coordinate)
        ]
    if not entries:
        raise EngineJarsError(f"{lock}: Maven resolved nothing for {wanted}")
    document["jars"] = entries
    path.write_text(json.dumps(document, indent=2) + "\n")
    return len(entries)


LOCKS = (KAFKA_BROKER_LOCK, SPARK_S3A_LOCK)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m cicd.engines.jars", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("fetch", "record"), help="fetch: verify into the cache; record: refresh")
    args = parser.parse_args(argv)
    try:
        for lock in LOCKS:
            if args.command == "record":
                print(f"{lock}: recorded {record_lock(ROOT, lock)} jars")
            else:
                jars = locked_jars(ROOT, lock)
                print(f"{lock}: {len(jars)} jars verified in {jars[0].parent}")
    except EngineJarsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
