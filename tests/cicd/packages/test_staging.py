"""Fetching jars checks every byte against the lock; plugins.zip is built offline and deterministically."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from cicd.packages.locks import JAR_LOCK, LockError, load_jars
from cicd.packages.staging import StagingError, build_plugins_zip, download_command, fetch_jars, verify_staged_jars

ROOT = Path(__file__).resolve().parents[3]
JAR = b"PK fake jar bytes"


def repo_with_lock(tmp_path: Path, sha256: str | None) -> Path:
    lock = tmp_path / JAR_LOCK
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({"jars": [{"coordinate": "org.apache.kafka:kafka-clients:3.4.1", "sha256": sha256}]}))
    return tmp_path


def maven(url: str) -> bytes:
    assert url.startswith("https://repo1.maven.org/maven2/org/apache/kafka/kafka-clients/3.4.1/kafka-clients-3.4.1.jar")
    return hashlib.sha1(JAR).hexdigest().encode() + b"  kafka-clients-3.4.1.jar" if url.endswith(".sha1") else JAR


def test_a_locked_jar_is_fetched_and_verified(tmp_path):
    root = repo_with_lock(tmp_path, hashlib.sha256(JAR).hexdigest())
    fetch_jars(root, tmp_path / "out", fetch=maven)
    assert verify_staged_jars(root, tmp_path / "out") == {"kafka-clients-3.4.1.jar": JAR}


def test_a_changed_upstream_jar_is_refused(tmp_path):
    root = repo_with_lock(tmp_path, "0" * 64)
    with pytest.raises(StagingError, match=r"differs from pipeline_assets/spark/jars\.lock\.json"):
        fetch_jars(root, tmp_path / "out", fetch=maven)


def test_a_jar_without_a_hash_is_staged_only_after_recording(tmp_path):
    root = repo_with_lock(tmp_path, None)
    with pytest.raises(StagingError, match="make spark-jars-lock"):
        fetch_jars(root, tmp_path / "out", fetch=maven)
    fetch_jars(root, tmp_path / "out", record=True, fetch=maven)
    assert load_jars(root)[0].sha256 == hashlib.sha256(JAR).hexdigest()


def test_recording_refuses_a_download_that_disagrees_with_maven_sha1(tmp_path):
    root = repo_with_lock(tmp_path, None)
    with pytest.raises(StagingError, match=r"\.sha1"):
        fetch_jars(root, tmp_path / "out", record=True, fetch=lambda url: b"0" * 40 if url.endswith(".sha1") else JAR)


def test_a_malformed_lock_names_the_entry(tmp_path):
    root = repo_with_lock(tmp_path, "not-a-hash")
    with pytest.raises(LockError, match=r"jars\[0\]\.sha256"):
        load_jars(root)


def test_the_committed_jar_lock_loads():
    files = {jar.file for jar in load_jars(ROOT)}
    assert "spark-sql-kafka-0-10_2.12-3.5.5.jar" in files


def test_pip_download_enforces_the_lock_for_mwaa_python(tmp_path):
    command = download_command(Path("wheelhouse.lock"), tmp_path)
    assert {"--require-hashes", "--no-deps", "manylinux_2_28_x86_64", "3.11"} <= set(command)


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
