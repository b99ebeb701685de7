"""Spark artifacts: per job an entry point and a zipped dependency bundle, content-hashed in a manifest.

    spark/<job_id>/main.py       what spark-submit runs (EMR Serverless entryPoint)
    spark/<job_id>/deps.zip      --py-files: shared library, the job's package, what it vendors
    spark/<job_id>/query.json    streaming jobs: the declared query shape streaming_control checks
    spark/manifest.json          sha256 of each of the above, the vendored versions

deps.zip is deterministic (sorted entries, fixed timestamps and permissions), so an unchanged
job yields the same bytes, the same hash and the same release id.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

from cicd.release.parts import BundleFiles, bundle_part
from platform_vocabulary.spark_jobs import JOBS, SparkJob

SPARK_DIR = Path("pipeline_assets/spark")
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
SHIPPED_SUFFIXES = (".py", ".json", ".avsc")
SKIPPED_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache"}


class SparkBundleError(Exception):
    pass


def _package_files(root: Path, package: str) -> dict[str, bytes]:
    folder = root.joinpath(*package.split("."))
    if not (folder / "__init__.py").exists():
        raise SparkBundleError(f"{folder.relative_to(root)} is not a package (no __init__.py)")
    files = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and path.suffix in SHIPPED_SUFFIXES and not SKIPPED_DIRS.intersection(rel.parts):
            files[rel.as_posix()] = path.read_bytes()
    return files


def _vendored_files(distribution: str) -> tuple[dict[str, bytes], str]:
    """A distribution's pure-Python modules and its licence/metadata; compiled extensions stay out."""
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError as exc:
        raise SparkBundleError(f"{distribution} is not installed in the build environment; run `make venv`") from exc
    files = {}
    for entry in dist.files or []:
        posix = PurePosixPath(str(entry))
        wanted = posix.suffix == ".py" or (
            posix.parts[0].endswith(".dist-info")
            and (posix.name in ("METADATA", "LICENSE") or "licenses" in posix.parts)
        )
        if wanted and "__pycache__" not in posix.parts:
            files[posix.as_posix()] = Path(str(dist.locate_file(entry))).read_bytes()
    if not any(name.endswith(".py") for name in files):
        raise SparkBundleError(f"{distribution} has no pure-Python modules to vendor")
    return files, dist.version


def deterministic_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, whatever machine builds it
            info.external_attr = 0o100644 << 16
            archive.writestr(info, files[name], compresslevel=9)
    return buffer.getvalue()


def deps_files(root: Path, job: SparkJob) -> tuple[dict[str, bytes], dict[str, str]]:
    """Everything the job imports that EMR does not provide, and the vendored versions."""
    files = {
        # pipeline_assets is a namespace package in the repository; in a zip an explicit one is surest.
        "pipeline_assets/__init__.py": b"",
        "pipeline_assets/spark/__init__.py": (root / SPARK_DIR / "__init__.py").read_bytes(),
    }
    for package in ("pipeline_assets.spark.common", job.package, *job.packages):
        files.update(_package_files(root, package))
    versions = {}
    for distribution in job.vendored:
        vendored, versions[distribution] = _vendored_files(distribution)
        files.update(vendored)
    return files, versions


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@bundle_part("spark")
def spark(root: Path) -> BundleFiles:
    manifest: dict[str, Any] = {"jobs": {}}
    for job in JOBS:
        job_dir = root / SPARK_DIR / job.job_id
        entry = job_dir / "main.py"
        if not entry.exists():
            raise SparkBundleError(f"{entry.relative_to(root)} is missing: every job needs its entry point")
        files, versions = deps_files(root, job)
        artifacts = {"main.py": entry.read_bytes(), "deps.zip": deterministic_zip(files)}
        if job.kind == "streaming":
            contract = job_dir / "query.json"
            if not contract.exists():
                raise SparkBundleError(f"{contract.relative_to(root)} is missing: streaming jobs declare their query")
            artifacts["query.json"] = contract.read_bytes()
        for name, data in artifacts.items():
            yield f"{job.job_id}/{name}", data
        manifest["jobs"][job.job_id] = {
            "kind": job.kind,
            "sha256": {name: sha256(data) for name, data in sorted(artifacts.items())},
            "deps_entries": len(files),
            "vendored": versions,
        }
    yield "manifest.json", (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
