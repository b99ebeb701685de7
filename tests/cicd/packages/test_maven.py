"""Maven's own client, checked before `make packages` fetches anything: Maven 3.8+ on Java 17."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cicd.packages.maven import MavenError, check_client

ROOT = Path(__file__).resolve().parents[3]


def fake_mvn(tmp_path: Path, monkeypatch, report: str) -> None:
    """An `mvn` on PATH that answers --version as a real one would (colour codes included)."""
    script = tmp_path / "mvn"
    script.write_text(f"#!/bin/sh\nprintf '%b' '{report}'\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))


def version_report(maven: str, java: str) -> str:
    return (
        f"\\033[1mApache Maven {maven} (abc)\\033[m\\nMaven home: /opt/maven\\n"
        f"Java version: {java}, vendor: Amazon.com Inc., runtime: /usr/lib/jvm/java\\n"
    )


def test_maven_3_9_on_java_17_passes_with_its_versions(tmp_path, monkeypatch):
    fake_mvn(tmp_path, monkeypatch, version_report("3.9.5", "17.0.12"))
    assert check_client().startswith("Maven 3.9 on Java 17")


@pytest.mark.parametrize(
    ("maven", "java", "refusal"),
    [
        ("3.9.5", "11.0.21", r"runs on Java 11; select Java 17 .*corretto17"),
        ("3.9.5", "1.8.0_392", r"runs on Java 8; select Java 17"),
        ("3.6.3", "17.0.12", r"is Maven 3\.6; install Maven 3\.8\+"),
    ],
)
def test_another_java_or_an_old_maven_is_refused_naming_what_to_install(tmp_path, monkeypatch, maven, java, refusal):
    fake_mvn(tmp_path, monkeypatch, version_report(maven, java))
    with pytest.raises(MavenError, match=refusal):
        check_client()


def test_no_mvn_at_all_is_refused_naming_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MavenError, match=r"mvn is not on PATH; install Maven 3\.8\+ \(with Java 17\)"):
        check_client()


def test_make_packages_checks_the_client_before_fetching_anything():
    # The Validate build runs `make packages` first (stacks/delivery_pipeline_stack.py): the check is its first step.
    dry_run = subprocess.run(["make", "-n", "packages"], cwd=ROOT, capture_output=True, text=True, check=True)
    commands = [line for line in dry_run.stdout.splitlines() if "cicd packages" in line]
    assert [c.split("cicd packages ")[1] for c in commands] == ["toolchain", "spark-jars", "mwaa-wheelhouse"]


def test_the_command_line_exits_1_with_the_reason(tmp_path, monkeypatch):
    fake_mvn(tmp_path, monkeypatch, version_report("3.9.5", "21.0.1"))
    result = subprocess.run(
        [sys.executable, "-m", "cicd.packages", "toolchain"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1 and "runs on Java 21; select Java 17" in result.stderr
