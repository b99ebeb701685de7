"""Releases A and B of the rehearsal, built by the release build itself from copies of this repository.

A is the repository as it is. B is the same tree with three changes a real release could carry:
- a DAG change: the operations_events pipeline retries twice instead of three times;
- a Spark job change: the streaming job logs its start differently (new deps.zip bytes, same query shape, so
  a checkpoint-compatible redeploy);
- a dbt model change that publishes wrong data: a filter meant to drop cancelled orders drops the delivered
  ones (most of them). Every dbt test still passes (the audit cannot see it); the data-quality canary sees
  the orders mart's row count drop.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cicd.engines.airflow import digest_of
from cicd.release.bundle import collect, content_hash

DAGS = "dags/"


class RehearsalSetupError(RuntimeError):
    pass


@dataclass(frozen=True)
class Change:
    file: str
    before: str
    after: str
    what: str


B_CHANGES = (
    Change(
        "dags/pipelines/operations_events.yaml",
        "retries: 3\n",
        "retries: 2\n",
        "DAG: operations_events retries twice instead of three times",
    ),
    Change(
        "pipeline_assets/spark/operations_events_stream/job.py",
        'log.info("release %s: query %s started on %s", args.release_id, query.id, args.checkpoint)',
        'log.info("release %s: query %s started on %s (trigger %s s)", args.release_id, query.id, '
        "args.checkpoint, args.trigger_seconds)",
        "Spark: the streaming job logs its trigger interval at start (compatible with the checkpoint)",
    ),
    Change(
        "dbt_project/models/marts/operations/orders.sql",
        "from {{ ref('int_orders_pivoted') }}",
        "from {{ ref('int_orders_pivoted') }}\nwhere status != 'delivered'",
        "dbt: a filter meant to drop cancelled orders drops the delivered ones (wrong data that passes every test)",
    ),
)


@dataclass(frozen=True)
class Release:
    name: str  # "A" or "B"
    release_id: str
    files: dict[str, bytes]  # bundle path -> bytes, as the release build writes them

    @property
    def dags(self) -> dict[str, bytes]:
        return {path[len(DAGS) :]: data for path, data in self.files.items() if path.startswith(DAGS)}

    @property
    def dags_digest(self) -> str:
        return digest_of(self.dags)

    def spark_sha256(self, name: str) -> str:
        import hashlib

        return hashlib.sha256(self.files[f"spark/operations_events_stream/{name}"]).hexdigest()


def copy_tree(root: Path, destination: Path) -> Path:
    """The files git knows (tracked, and new ones not ignored): what a clean clone of this change holds."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root,
        capture_output=True,
        check=False,
    )
    if listed.returncode != 0:
        raise RehearsalSetupError(f"git ls-files failed in {root}: {listed.stderr.decode()[-400:]}")
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = root / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def apply(tree: Path, changes: tuple[Change, ...]) -> None:
    for change in changes:
        path = tree / change.file
        text = path.read_text()
        if text.count(change.before) != 1:
            raise RehearsalSetupError(
                f"{change.file}: the rehearsal's release B changes {change.before!r}, which is no longer there "
                "exactly once; update B_CHANGES in cicd/rehearsal/releases.py to a line that exists"
            )
        path.write_text(text.replace(change.before, change.after))


def build(name: str, tree: Path) -> Release:
    files = collect(tree)
    return Release(name, f"r-{content_hash(files)[:16]}", files)


def build_pair(root: Path, workdir: Path) -> tuple[Release, Release]:
    """A from a copy of the repository, B from a copy with B_CHANGES; each in a process of its own (the release
    build loads modules by file and runs dbt parse twice: two processes share neither)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    tree_a = copy_tree(root, workdir / "tree-a")
    tree_b = copy_tree(root, workdir / "tree-b")
    apply(tree_b, B_CHANGES)
    # spawn, not fork: the rehearsal's process runs threads (moto server, the broker's) while it builds.
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        a, b = pool.submit(build, "A", tree_a), pool.submit(build, "B", tree_b)
        return a.result(), b.result()
