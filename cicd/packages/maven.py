"""Maven artifacts by coordinate, through Maven's own client as the machine has it configured.

The project never names a repository: `mvn` resolves from whatever its settings say (Maven Central,
a corporate mirror, CodeBuild's proxy), verifies the checksums the repository publishes (`-C`, strict
checksums) and copies the files out of its local repository. What we trust afterwards is the sha256
the lock recorded, not the repository.

One `mvn` run per request: a small generated POM lists every coordinate as a dependency, so a lock of
40 jars costs one JVM start, not 40.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

# Pinned so that every machine resolves and copies the same way (the default plugin version varies
# with the Maven installation).
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1"


# What the pinned dependency plugin and the EMR jars need (Spark 3.5 targets Java 17; CodeBuild's
# Amazon Linux standard 5.0 image ships Maven 3.9 and Corretto 17, selected by runtime-versions).
MIN_MAVEN = (3, 8)
JAVA_MAJOR = 17
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class MavenError(Exception):
    """mvn is missing or could not resolve an artifact; the message names the coordinate and the fix."""


def check_client() -> str:
    """`mvn --version` of this machine if it is Maven 3.8+ on Java 17; else MavenError saying what to install.

    `make packages` runs this first, so a build image without Maven or with another Java stops with
    one line naming the fix instead of failing on the first jar.
    """
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MavenError("mvn is not on PATH; install Maven 3.8+ (with Java 17) and configure its repository")
    result = subprocess.run([mvn, "--batch-mode", "--version"], capture_output=True, text=True, check=False)
    text = ANSI.sub("", result.stdout + result.stderr)
    maven = re.search(r"Apache Maven (\d+)\.(\d+)\.\d+", text)
    java = re.search(r"Java version: (?:1\.)?(\d+)", text)
    if result.returncode != 0 or not maven or not java:
        raise MavenError(f"`mvn --version` did not report Maven and Java versions: {text.strip()[-300:]}")
    if (int(maven[1]), int(maven[2])) < MIN_MAVEN:
        raise MavenError(f"{mvn} is Maven {maven[1]}.{maven[2]}; install Maven {MIN_MAVEN[0]}.{MIN_MAVEN[1]}+")
    if int(java[1]) != JAVA_MAJOR:
        raise MavenError(
            f"{mvn} runs on Java {java[1]}; select Java {JAVA_MAJOR} (JAVA_HOME, or CodeBuild's runtime-versions "
            f"java: corretto{JAVA_MAJOR})"
        )
    return f"Maven {maven[1]}.{maven[2]} on Java {java[1]} ({mvn})"


@dataclass(frozen=True)
class Artifact:
    group: str
    artifact: str
    version: str
    classifier: str = ""

    @classmethod
    def parse(cls, coordinate: str) -> Artifact:
        parts = coordinate.split(":")
        if len(parts) not in (3, 4) or not all(parts):
            raise MavenError(f"{coordinate!r} is not group:artifact:version[:classifier]")
        return cls(*parts)

    @property
    def coordinate(self) -> str:
        return ":".join(filter(None, (self.group, self.artifact, self.version, self.classifier)))

    @property
    def file(self) -> str:
        suffix = f"-{self.classifier}" if self.classifier else ""
        return f"{self.artifact}-{self.version}{suffix}.jar"


def _pom(artifacts: Iterable[Artifact], *, transitive: bool) -> str:
    exclude_all = "<exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions>"
    exclusions = "" if transitive else exclude_all
    dependencies = "".join(
        "<dependency>"
        f"<groupId>{escape(a.group)}</groupId><artifactId>{escape(a.artifact)}</artifactId>"
        f"<version>{escape(a.version)}</version>"
        + (f"<classifier>{escape(a.classifier)}</classifier>" if a.classifier else "")
        + f"{exclusions}</dependency>"
        for a in artifacts
    )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>local.lock</groupId><artifactId>fetch</artifactId><version>0</version><packaging>pom</packaging>"
        f"<dependencies>{dependencies}</dependencies></project>"
    )


def _mvn(pom_dir: Path, goal: str, *properties: str) -> subprocess.CompletedProcess[str]:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MavenError("mvn is not on PATH; install Maven 3.8+ (with Java 17) and configure its repository")
    command = [mvn, "-B", "-q", "-C", "-f", str(pom_dir / "pom.xml"), f"{DEPENDENCY_PLUGIN}:{goal}", *properties]
    env = {**os.environ, "MAVEN_OPTS": os.environ.get("MAVEN_OPTS", "-Xmx512m")}
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        missing = [line for line in result.stdout.splitlines() if "Could not" in line or "not found" in line]
        detail = (missing or result.stdout.splitlines()[-5:] or [result.stderr.strip()])[0]
        raise MavenError(
            f"mvn {goal} failed: {detail.strip()[:400]}. Check the coordinate exists in the repository "
            "Maven is configured for (~/.m2/settings.xml) and that it is reachable."
        )
    return result


def copy_artifacts(
    coordinates: Sequence[str], dest: Path, *, transitive: bool = False, fresh: bool = False
) -> list[Artifact]:
    """Resolve the coordinates (checksums verified by Maven) and copy their jars into dest.

    With transitive=True the runtime closure is resolved too; the return value lists everything copied,
    which is what a lock records. fresh=True resolves into an empty local repository, so every file is
    downloaded and checked against the repository's published checksum rather than taken from a cache
    (what recording a new lock entry uses).
    """
    artifacts = [Artifact.parse(coordinate) for coordinate in coordinates]
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mvn-fetch-") as scratch:
        pom_dir = Path(scratch)
        (pom_dir / "pom.xml").write_text(_pom(artifacts, transitive=transitive))
        listing = pom_dir / "resolved.txt"
        local = (f"-Dmaven.repo.local={pom_dir / 'repository'}",) if fresh else ()
        _mvn(pom_dir, "list", *local, "-DincludeScope=runtime", f"-DoutputFile={listing}")
        resolved = _parse_listing(listing.read_text())
        _mvn(pom_dir, "copy-dependencies", *local, "-DincludeScope=runtime", f"-DoutputDirectory={dest}")
    missing = [a.coordinate for a in resolved if not (dest / a.file).is_file()]
    if missing:
        raise MavenError(f"mvn resolved but did not copy {missing}; rerun with a clean {dest}")
    return resolved


def _parse_listing(text: str) -> list[Artifact]:
    """`dependency:list` lines: `   group:artifact:type[:classifier]:version:scope[ -- module ...]`."""
    artifacts = []
    for line in text.splitlines():
        fields = line.strip().split(" ")[0].split(":")
        if len(fields) == 5 and fields[2] == "jar":
            artifacts.append(Artifact(fields[0], fields[1], fields[3]))
        elif len(fields) == 6 and fields[2] == "jar":
            artifacts.append(Artifact(fields[0], fields[1], fields[4], fields[3]))
    return sorted(artifacts, key=lambda a: a.coordinate)
