"""The lock files: what the cloud runtimes may install, with the sha256 of every file.

pipeline_assets/spark/jars.lock.json   Maven jars the Spark jobs put on spark.jars
pipeline_assets/mwaa/wheelhouse.lock   MWAA's requirements.txt closure (uv pip compile --generate-hashes)
pipeline_assets/mwaa/dbt.lock          the startup script's dbt virtual environment, the same way
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

JAR_LOCK = Path("pipeline_assets/spark/jars.lock.json")
WHEELHOUSE_LOCK = Path("pipeline_assets/mwaa/wheelhouse.lock")
DBT_LOCK = Path("pipeline_assets/mwaa/dbt.lock")

COORDINATE = re.compile(
    r"^(?P<group>[\w.\-]+):(?P<artifact>[\w.\-]+):(?P<version>[\w.\-]+)(?::(?P<classifier>[\w\-]+))?$"
)
SHA256 = re.compile(r"^[0-9a-f]{64}$")
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._\-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;\\]+)")


class LockError(Exception):
    """A lock file is unreadable or malformed; the message names the file, the entry and the fix."""


def normalize(name: str) -> str:
    """PEP 503 name normalisation: `Flask_Babel` and `flask-babel` are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Jar:
    coordinate: str
    sha256: str | None  # None until `make spark-jars-lock` has recorded it on a machine with network

    @property
    def parts(self) -> re.Match[str]:
        match = COORDINATE.match(self.coordinate)
        assert match, self.coordinate  # checked when the lock is loaded
        return match

    @property
    def file(self) -> str:
        parts = self.parts
        suffix = f"-{parts['classifier']}" if parts["classifier"] else ""
        return f"{parts['artifact']}-{parts['version']}{suffix}.jar"


def load_jars(root: Path, lock: Path = JAR_LOCK) -> list[Jar]:
    """A jar lock: Spark's runtime jars (the default) or any other Maven closure pinned the same way."""
    path = root / lock
    try:
        entries = json.loads(path.read_text())["jars"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LockError(f"{lock}: cannot read the jar lock ({exc}); it is a JSON object with a 'jars' list") from exc
    jars = []
    for index, entry in enumerate(entries):
        coordinate, sha = entry.get("coordinate", ""), entry.get("sha256")
        if not COORDINATE.match(coordinate):
            raise LockError(f"{lock}: jars[{index}].coordinate {coordinate!r} is not group:artifact:version")
        if sha is not None and not SHA256.match(sha):
            raise LockError(
                f"{lock}: jars[{index}].sha256 {sha!r} is not 64 lower-case hex digits; "
                "set it to null and run `make spark-jars-lock` to record it"
            )
        jars.append(Jar(coordinate, sha))
    files = [jar.file for jar in jars]
    if len(set(files)) != len(files):
        raise LockError(f"{lock}: two entries name the same jar file; keep one version of each artifact")
    return jars


@dataclass(frozen=True)
class LockedWheel:
    name: str  # normalised
    version: str
    hashes: tuple[str, ...]


def load_requirements_lock(root: Path, relative: Path) -> dict[str, LockedWheel]:
    """A `uv pip compile --generate-hashes` output, by normalised name."""
    path = root / relative
    try:
        text = path.read_text()
    except OSError as exc:
        raise LockError(f"{relative}: cannot read it ({exc}); regenerate it with `make mwaa-lock`") from exc
    locked: dict[str, LockedWheel] = {}
    current: tuple[str, str] | None = None
    hashes: list[str] = []
    for line in [*text.splitlines(), ""]:
        stripped = line.strip()
        match = PIN.match(stripped)
        if match or not stripped.startswith("--hash="):
            if current:
                locked[current[0]] = LockedWheel(current[0], current[1], tuple(hashes))
            current, hashes = (normalize(match["name"]), match["version"]) if match else None, []
        if stripped.startswith("--hash=sha256:"):
            hashes.append(stripped.removeprefix("--hash=sha256:").rstrip(" \\"))
    unhashed = sorted(name for name, wheel in locked.items() if not wheel.hashes)
    if unhashed:
        raise LockError(f"{relative}: {unhashed} have no --hash lines; regenerate it with `make mwaa-lock`")
    return locked
