"""Fetching jars checks every byte against the lock; plugins.zip is built offline and deterministically."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from cicd.packages import staging
from cicd.packages.locks import JAR_LOCK, LockError, load_jars
from cicd.packages.maven import MavenError, copy_artifacts
from cicd.packages.staging import (
    MWAA_PYTHON,
    SDIST_ONLY,
    StagingError,
    build_plugins_zip,
    download_command,
    fetch_jars,
    verify_staged_jars,
)

ROOT = Path(__file__).resolve().parents[3]
JAR = b"PK fake jar bytes"


def repo_with_lock(tmp_path: Path, sha256: str | None) -> Path:
    lock = tmp_path / JAR_LOCK
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({"jars": [{"coordinate": "org.apache.kafka:kafka-clients:3.4.1", "sha256": sha256}]}))
    return tmp_path


def maven_copy(served: bytes = JAR, calls: list | None = None):
    """Stands in for `copy_artifacts`: what Maven would copy out of its repository."""

    def copy(coordinates, dest: Path, *, fresh: bool = False):
        if calls is not None:
            calls.append((list(coordinates), fresh))
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "kafka-clients-3.4.1.jar").write_bytes(served)
        return []

    return copy


def test_a_locked_jar_is_fetched_and_verified(tmp_path):
    root = repo_with_lock(tmp_path, hashlib.sha256(JAR).hexdigest())
    calls: list = []
    fetch_jars(root, tmp_path / "out", copy=maven_copy(calls=calls))
    assert verify_staged_jars(root, tmp_path / "out") == {"kafka-clients-3.4.1.jar": JAR}
    assert calls == [(["org.apache.kafka:kafka-clients:3.4.1"], False)]


def test_a_changed_upstream_jar_is_refused_and_not_left_staged(tmp_path):
    root = repo_with_lock(tmp_path, "0" * 64)
    with pytest.raises(StagingError, match=r"differs from pipeline_assets/spark/jars\.lock\.json"):
        fetch_jars(root, tmp_path / "out", copy=maven_copy())
    assert not (tmp_path / "out" / "kafka-clients-3.4.1.jar").exists()


def test_a_jar_without_a_hash_is_recorded_only_from_a_fresh_resolution(tmp_path):
    root = repo_with_lock(tmp_path, None)
    with pytest.raises(StagingError, match="make spark-jars-lock"):
        fetch_jars(root, tmp_path / "out", copy=maven_copy())
    calls: list = []
    fetch_jars(root, tmp_path / "out", record=True, copy=maven_copy(calls=calls))
    assert load_jars(root)[0].sha256 == hashlib.sha256(JAR).hexdigest()
    assert calls[0][1] is True  # an empty local repository: downloaded and checksum-verified, not a cached file


def test_a_maven_failure_names_the_lock_and_the_coordinate(tmp_path):
    root = repo_with_lock(tmp_path, "0" * 64)

    def unresolvable(coordinates, dest, *, fresh=False):
        raise MavenError("mvn copy-dependencies failed: Could not find org.apache.kafka:kafka-clients:jar:3.4.1")

    with pytest.raises(StagingError, match=r"jars\.lock\.json: .*kafka-clients"):
        fetch_jars(root, tmp_path / "out", copy=unresolvable)


FAKE_MVN = """#!/usr/bin/env python3
import re, sys, pathlib, shutil
args = sys.argv[1:]
pom = pathlib.Path(args[args.index("-f") + 1]).read_text()
log = pathlib.Path(__file__).with_name("calls.log")
log.write_text(log.read_text() + " ".join(args) + "\\n" if log.exists() else " ".join(args) + "\\n")
deps = re.findall(r"<groupId>([^<]+)</groupId><artifactId>([^<]+)</artifactId><version>([^<]+)</version>", pom)[1:]
prop = dict(a[2:].split("=", 1) for a in args if a.startswith("-D") and "=" in a)
if "list" in args[-1] or any(a.endswith(":list") for a in args):
    pathlib.Path(prop["outputFile"]).write_text("".join(f"   {g}:{a}:jar:{v}:compile\\n" for g, a, v in deps))
else:
    out = pathlib.Path(prop["outputDirectory"]); out.mkdir(parents=True, exist_ok=True)
    for g, a, v in deps:
        (out / f"{a}-{v}.jar").write_bytes(b"jar of " + a.encode())
"""


def test_jars_come_from_mvn_by_coordinate_with_strict_checksums_and_no_repository_address(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mvn").write_text(FAKE_MVN)
    (bin_dir / "mvn").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    copied = copy_artifacts(["org.apache.kafka:kafka-clients:3.4.1"], tmp_path / "out", fresh=True)
    assert [artifact.coordinate for artifact in copied] == ["org.apache.kafka:kafka-clients:3.4.1"]
    assert (tmp_path / "out" / "kafka-clients-3.4.1.jar").read_bytes() == b"jar of kafka-clients"
    calls = (bin_dir / "calls.log").read_text().splitlines()
    assert len(calls) == 2 and all(" -C " in f" {call} " and "maven.repo.local" in call for call in calls)
    assert not any("://" in call for call in calls)  # the repository is Maven's configuration, never ours


def test_no_repository_address_is_written_into_the_project():
    sources = [*ROOT.glob("cicd/**/*.py"), *ROOT.glob("tests/**/*.py"), ROOT / "Makefile", *ROOT.glob("docs/*.md")]
    needles = ("repo1." + "maven", "repo." + "maven.apache", "central." + "sonatype")
    offenders = [str(path.relative_to(ROOT)) for path in sources if any(n in path.read_text() for n in needles)]
    assert offenders == []


def test_a_missing_mvn_is_an_error_that_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MavenError, match="mvn is not on PATH"):
        copy_artifacts(["org.apache.kafka:kafka-clients:3.4.1"], tmp_path / "out")


def test_a_malformed_lock_names_the_entry(tmp_path):
    root = repo_with_lock(tmp_path, "not-a-hash")
    with pytest.raises(LockError, match=r"jars\[0\]\.sha256"):
        load_jars(root)


def test_the_committed_jar_lock_loads():
    files = {jar.file for jar in load_jars(ROOT)}
    assert "spark-sql-kafka-0-10_2.12-3.5.3.jar" in files


def test_pip_download_enforces_the_lock_for_mwaa_python(tmp_path):
    command = download_command(Path("wheelhouse.lock"), tmp_path)
    assert {"--require-hashes", "--no-deps", "manylinux_2_28_x86_64", "--only-binary=:all:"} <= set(command)
    assert f"--no-binary={','.join(SDIST_ONLY)}" in command


def test_pip_checks_requires_python_against_the_version_the_mwaa_lock_was_resolved_for(tmp_path):
    # Fails on 9cf02fd: "3.11" means 3.11.0 to pip, which refused soupsieve 4.1.3 (Requires-Python >=3.11.5).
    command = download_command(Path("wheelhouse.lock"), tmp_path)
    version = command[command.index("--python-version") + 1]
    makefile = (ROOT / "Makefile").read_text()
    assert f"uv pip compile --quiet --generate-hashes --python-version {version} " in makefile
    assert version == MWAA_PYTHON and version.count(".") == 2


def test_pip_accepts_the_manylinux_2_17_wheels_that_mwaa_runs(tmp_path):
    # Fails on 9cf02fd: pip matches --platform literally, so manylinux_2_28_x86_64 alone passed over every
    # manylinux_2_17 wheel (numpy, pandas, cffi, grpcio) and built their sdists here for an hour.
    from pip._internal.models.target_python import TargetPython
    from pip._vendor.packaging.tags import Tag

    command = download_command(Path("wheelhouse.lock"), tmp_path)
    platforms = [command[i + 1] for i, arg in enumerate(command) if arg == "--platform"]
    target = TargetPython(platforms=platforms, py_version_info=(3, 11, 9), implementation="cp")
    tags = set(target.get_tags())
    for platform in ("manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_28_x86_64", "manylinux1_x86_64"):
        assert Tag("cp311", "cp311", platform) in tags, platform
    assert Tag("py3", "none", "any") in tags
    assert Tag("cp311", "cp311", "manylinux_2_34_x86_64") not in tags  # newer than MWAA's glibc


def test_a_failed_download_names_the_lock_and_both_fixes(tmp_path, monkeypatch):
    monkeypatch.setattr(staging.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 1))
    with pytest.raises(StagingError, match=r"wheelhouse\.lock failed .*`make mwaa-lock`.*SDIST_ONLY"):
        staging.download_wheels(tmp_path, tmp_path / "wheels")


def wheel_repo(tmp_path: Path) -> tuple[Path, Path]:
    """A repository whose two MWAA locks each pin one distribution, and the downloaded files."""
    root, wheels = tmp_path / "repo", tmp_path / "wheels"
    (root / "pipeline_assets" / "mwaa").mkdir(parents=True)
    for lock, folder, name in (
        ("wheelhouse.lock", "airflow", "apache_airflow_providers_amazon"),
        ("dbt.lock", "dbt", "dbt_core"),
    ):
        data = f"{name} wheel".encode()
        (wheels / folder).mkdir(parents=True)
        (wheels / folder / f"{name}-1.0-py3-none-any.whl").write_bytes(data)
        pin = f"{name.replace('_', '-')}==1.0 \\\n    --hash=sha256:{hashlib.sha256(data).hexdigest()}\n"
        (root / "pipeline_assets" / "mwaa" / lock).write_text(pin)
    return root, wheels


def test_plugins_zip_holds_wheels_constraints_and_the_dbt_lock(tmp_path):
    root, wheels = wheel_repo(tmp_path)
    data = build_plugins_zip(root, wheels)
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert names == [
        "apache_airflow_providers_amazon-1.0-py3-none-any.whl",
        "constraints.txt",
        "dbt/dbt_core-1.0-py3-none-any.whl",
        "dbt/requirements.lock",
    ]
    constraints = zipfile.ZipFile(io.BytesIO(data)).read("constraints.txt").decode()
    assert "apache-airflow-providers-amazon==1.0" in constraints and "://" not in constraints
    assert build_plugins_zip(root, wheels) == data  # deterministic: same bytes, same S3 object


def test_plugins_zip_refuses_a_missing_or_tampered_wheel(tmp_path):
    root, wheels = wheel_repo(tmp_path)
    (wheels / "dbt" / "dbt_core-1.0-py3-none-any.whl").write_bytes(b"tampered")
    with pytest.raises(StagingError, match="hashes"):
        build_plugins_zip(root, wheels)
    shutil.rmtree(wheels / "dbt")
    with pytest.raises(StagingError, match="make mwaa-wheelhouse"):
        build_plugins_zip(root, wheels)


def test_an_sdist_whose_name_has_a_dash_is_found_for_its_pin(tmp_path):
    # Fails on 9cf02fd: python-nvd3-0.16.0.tar.gz (sdist only) did not parse, so plugins.zip "lacked" it.
    root, wheels = wheel_repo(tmp_path)
    data = b"python-nvd3 sdist"
    (wheels / "airflow" / "python-nvd3-0.16.0.tar.gz").write_bytes(data)
    lock = root / "pipeline_assets" / "mwaa" / "wheelhouse.lock"
    lock.write_text(
        lock.read_text() + f"python-nvd3==0.16.0 \\\n    --hash=sha256:{hashlib.sha256(data).hexdigest()}\n"
    )
    names = zipfile.ZipFile(io.BytesIO(build_plugins_zip(root, wheels))).namelist()
    assert "python-nvd3-0.16.0.tar.gz" in names
