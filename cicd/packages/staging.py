"""Fetching (network) and assembling (offline) what the cloud runtimes install.

    build/packages/jars/<file>.jar     verified against jars.lock.json; staged at s3://<release bucket>/packages/jars/
    build/packages/wheels/...          `pip download` of wheelhouse.lock and dbt.lock, hashes enforced by pip
    build/packages/plugins.zip         MWAA's plugins.zip: wheels, constraints.txt, dbt/ wheels and lock

Only `fetch_jars` and `download_wheels` need network; `build_plugins_zip` runs offline from what
they left, so the same bytes can be rebuilt and compared.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from cicd.packages.locks import (
    DBT_LOCK,
    JAR_LOCK,
    WHEELHOUSE_LOCK,
    Jar,
    LockedWheel,
    load_jars,
    load_requirements_lock,
)
from cicd.packages.locks import normalize as normalize_name
from cicd.packages.maven import Artifact, MavenError, copy_artifacts
from cicd.release.parts.spark import deterministic_zip

# MWAA's Python for Airflow 2.10 on x86_64 Linux (glibc 2.28 or newer, what `make mwaa-lock` resolves
# for): pip download fetches wheels for it, not for this machine.
MWAA_GLIBC_MINOR = 28


def mwaa_platforms(glibc_minor: int = MWAA_GLIBC_MINOR) -> list[str]:
    """Every manylinux tag a glibc 2.<minor> x86_64 system runs, newest first.

    pip matches --platform literally (it expands only the legacy manylinux2014/2010 aliases): with
    manylinux_2_28_x86_64 alone, every wheel tagged manylinux_2_17 (numpy, pandas, cffi, grpcio...)
    was passed over for its sdist, which pip then built here from source (an hour of meson for numpy
    and pandas under load, when it finished at all).
    """
    perennial = [f"manylinux_2_{minor}_x86_64" for minor in range(glibc_minor, 4, -1)]
    return [*perennial, "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]


# The full version `make mwaa-lock` resolves for (uv --python-version 3.11.9): with "3.11" pip checks
# Requires-Python against 3.11.0 and refuses pins such as soupsieve 4.1.3 (Requires-Python >=3.11.5).
MWAA_PYTHON = "3.11.9"
MWAA_PLATFORM = (
    *(arg for tag in mwaa_platforms() for arg in ("--platform", tag)),
    "--python-version",
    MWAA_PYTHON,
    "--implementation",
    "cp",
)
# Pins that publish no wheel at all: the only ones pip may fetch as source. Everything else must be a
# wheel for MWAA's platform, so a pin without one fails the download at once instead of building.
SDIST_ONLY = ("python-nvd3",)
# A wheel's name has no "-" (PEP 427 escapes it); an old sdist's may (python-nvd3-0.16.0.tar.gz), its version may not.
WHEEL_NAME = re.compile(
    r"^(?P<name>[^-]+)-(?P<version>[^-]+)-.*\.whl$|^(?P<sname>.+)-(?P<sversion>[^-]+)\.(?:tar\.gz|zip)$"
)

CopyArtifacts = Callable[..., list[Artifact]]


class StagingError(Exception):
    pass


def fetch_jars(
    root: Path,
    dest: Path,
    *,
    record: bool = False,
    lock: Path = JAR_LOCK,
    copy: CopyArtifacts = copy_artifacts,
) -> list[Jar]:
    """Copy every locked jar into dest through Maven and check its sha256; `record` fills in missing hashes.

    Maven verifies each download against the checksum its repository publishes (strict checksums).
    A hash is recorded only from a fresh resolution (an empty local repository), so a first recording
    is checked against the repository rather than taken from whatever a cache holds.
    """
    jars, recorded = load_jars(root, lock), {}
    unrecorded = [jar for jar in jars if jar.sha256 is None]
    if unrecorded and not record:
        raise StagingError(f"{lock}: {unrecorded[0].coordinate} has no sha256; run `make spark-jars-lock` first")
    try:
        copy([jar.coordinate for jar in jars], dest, fresh=bool(unrecorded))
    except MavenError as exc:
        raise StagingError(f"{lock}: {exc}") from exc
    for jar in jars:
        path = dest / jar.file
        if not path.is_file():
            raise StagingError(f"{lock}: Maven did not produce {jar.file} for {jar.coordinate}")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if jar.sha256 is None:
            recorded[jar.coordinate] = digest
        elif digest != jar.sha256:
            path.unlink()
            raise StagingError(
                f"{jar.coordinate}: sha256 {digest} differs from {lock} ({jar.sha256}); the artifact changed "
                "upstream, in a mirror or in the local Maven repository. Do not stage it; investigate before "
                "updating the lock."
            )
    if recorded:
        _record_hashes(root / lock, recorded)
    return load_jars(root, lock)


def _record_hashes(path: Path, recorded: dict[str, str]) -> None:
    lock = json.loads(path.read_text())
    for entry in lock["jars"]:
        entry["sha256"] = recorded.get(entry["coordinate"], entry["sha256"])
    path.write_text(json.dumps(lock, indent=2) + "\n")


def verify_staged_jars(root: Path, jar_dir: Path, *, lock: Path = JAR_LOCK) -> dict[str, bytes]:
    """The staged jars, each checked against the lock; what the stacks upload."""
    staged = {}
    for jar in load_jars(root, lock):
        path = jar_dir / jar.file
        if jar.sha256 is None or not path.is_file():
            raise StagingError(f"{path} is not staged (or has no sha256 in {lock}); run `make spark-jars`")
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != jar.sha256:
            raise StagingError(f"{path}: sha256 differs from {lock}; run `make spark-jars` again")
        staged[jar.file] = data
    return staged


def download_command(lock: Path, dest: Path) -> list[str]:
    # --no-deps: the lock is the whole closure already; pip then allows the sdist-only pins next to
    # --platform, and --require-hashes makes every file match the lock. --only-binary with the named
    # exceptions: a pin whose wheel pip cannot match fails here, it is never built from source.
    return [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--require-hashes",
        "--only-binary=:all:",
        f"--no-binary={','.join(SDIST_ONLY)}",
        *MWAA_PLATFORM,
        "--dest",
        str(dest),
        "--requirement",
        str(lock),
    ]


def download_wheels(root: Path, dest: Path) -> None:
    for lock, folder in ((WHEELHOUSE_LOCK, "airflow"), (DBT_LOCK, "dbt")):
        (dest / folder).mkdir(parents=True, exist_ok=True)
        result = subprocess.run(download_command(root / lock, dest / folder), check=False)
        if result.returncode != 0:
            raise StagingError(
                f"pip download of {lock} failed (exit {result.returncode}, its message is above). A pin with no "
                f"wheel for {MWAA_PLATFORM[1]} and CPython 3.11 either needs another version (`make mwaa-lock`) or, "
                "if it publishes source only, a place in SDIST_ONLY (cicd/packages/staging.py)."
            )


def _locked_files(root: Path, lock: Path, folder: Path) -> list[Path]:
    """The downloaded file of every pin of the lock, each checked against the lock's hashes."""
    locked = load_requirements_lock(root, lock)
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        match = WHEEL_NAME.match(path.name)
        name = normalize_name(match["name"] or match["sname"]) if match else ""
        version = (match["version"] or match["sversion"]) if match else ""
        if match and name in locked and normalize_name(version) == normalize_name(locked[name].version):
            if hashlib.sha256(path.read_bytes()).hexdigest() not in locked[name].hashes:
                raise StagingError(f"{path}: sha256 is not one of {lock}'s hashes; run `make mwaa-wheelhouse`")
            files[name] = path
    missing = sorted(set(locked) - set(files))
    if missing:
        raise StagingError(
            f"{folder} lacks {len(missing)} distribution(s) of {lock}, e.g. {missing[:3]}; "
            "run `make mwaa-wheelhouse` (needs PyPI)"
        )
    return [files[name] for name in sorted(files)]


def build_plugins_zip(root: Path, wheel_dir: Path) -> bytes:
    """plugins.zip, deterministic: the same locks and wheels give the same bytes (and the same S3 object)."""
    entries = {path.name: path.read_bytes() for path in _locked_files(root, WHEELHOUSE_LOCK, wheel_dir / "airflow")}
    entries.update({f"dbt/{path.name}": path.read_bytes() for path in _locked_files(root, DBT_LOCK, wheel_dir / "dbt")})
    entries["constraints.txt"] = constraints_text(load_requirements_lock(root, WHEELHOUSE_LOCK)).encode()
    entries["dbt/requirements.lock"] = (root / DBT_LOCK).read_bytes()
    return deterministic_zip(entries)


def constraints_text(locked: Mapping[str, LockedWheel]) -> str:
    header = f"# Written from {WHEELHOUSE_LOCK} by the package build: every version MWAA may install.\n"
    return header + "".join(f"{name}=={wheel.version}\n" for name, wheel in sorted(locked.items()))
