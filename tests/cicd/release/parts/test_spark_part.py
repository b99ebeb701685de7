import ast
import hashlib
import io
import json
import subprocess
import sys
import textwrap
import zipfile

import pytest

from cicd.release.parts import all_parts
from cicd.release.parts.spark import SparkBundleError, deterministic_zip, spark
from platform_vocabulary.spark_jobs import JOBS

JOB_IDS = [job.job_id for job in JOBS]


@pytest.fixture(scope="module")
def bundle(repo_root):
    return dict(spark(repo_root))


def test_registered_as_the_spark_part():
    assert all_parts()["spark"] is spark


def test_every_job_ships_entry_point_and_deps_and_streaming_jobs_their_query(bundle):
    expected = {f"{j}/{name}" for j in JOB_IDS for name in ("main.py", "deps.zip")}
    expected |= {f"{job.job_id}/query.json" for job in JOBS if job.kind == "streaming"}
    assert set(bundle) == expected | {"manifest.json"}


def test_manifest_hashes_are_the_shipped_bytes(bundle):
    manifest = json.loads(bundle["manifest.json"])
    assert set(manifest["jobs"]) == set(JOB_IDS)
    for job_id, entry in manifest["jobs"].items():
        for name, digest in entry["sha256"].items():
            assert hashlib.sha256(bundle[f"{job_id}/{name}"]).hexdigest() == digest
    assert manifest["jobs"]["operations_events_stream"]["vendored"] == {"fastavro": "1.12.1"}


def test_build_is_byte_for_byte_deterministic(repo_root, bundle):
    assert dict(spark(repo_root)) == bundle
    archive = zipfile.ZipFile(io.BytesIO(bundle["crm_accounts_batch/deps.zip"]))
    names = archive.namelist()
    assert names == sorted(names)
    assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert {info.external_attr >> 16 for info in archive.infolist()} == {0o100644}


def test_deterministic_zip_ignores_insertion_order():
    assert deterministic_zip({"b.py": b"2", "a.py": b"1"}) == deterministic_zip({"a.py": b"1", "b.py": b"2"})


def test_deps_hold_the_library_the_job_and_nothing_compiled_or_cached(bundle):
    names = zipfile.ZipFile(io.BytesIO(bundle["operations_events_stream/deps.zip"])).namelist()
    assert "pipeline_assets/spark/common/tabular.py" in names
    assert "pipeline_assets/spark/operations_events_stream/query.json" in names
    assert "pipeline_assets/schemas/released/operations.events.v1-value.json" in names
    assert "fastavro/_read_py.py" in names
    assert not [n for n in names if n.endswith((".so", ".pyc", ".pyx")) or "__pycache__" in n]
    batch = zipfile.ZipFile(io.BytesIO(bundle["crm_accounts_batch/deps.zip"])).namelist()
    assert not [n for n in batch if "operations_events_stream" in n or n.startswith("fastavro")]  # only what it needs


def test_shipped_python_parses_as_python_3_9(bundle):
    # EMR 7.x runs Python 3.9: newer syntax in a job would only fail on the cluster.
    for name, data in bundle.items():
        if name.endswith("deps.zip"):
            archive = zipfile.ZipFile(io.BytesIO(data))
            sources = {n: archive.read(n) for n in archive.namelist() if n.startswith("pipeline_assets/")}
        elif name.endswith(".py"):
            sources = {name: data}
        else:
            continue
        for source_name, source in sources.items():
            if source_name.endswith(".py"):
                ast.parse(source, filename=source_name, feature_version=(3, 9))


def unpack(bundle, job_id, tmp_path):
    folder = tmp_path / job_id
    folder.mkdir()
    for name in ("main.py", "deps.zip"):
        (folder / name).write_bytes(bundle[f"{job_id}/{name}"])
    return folder


def run_isolated(folder, *argv):
    """Python as EMR runs it: the entry point's folder and deps.zip on the path, never the repository."""
    return subprocess.run(
        [sys.executable, *argv],
        cwd=folder,
        env={"PYTHONPATH": str(folder / "deps.zip"), "PATH": "/usr/bin:/bin", "SPARK_LOCAL_IP": "127.0.0.1"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("job_id", JOB_IDS)
def test_entry_point_imports_everything_from_the_bundle(bundle, tmp_path, job_id):
    folder = unpack(bundle, job_id, tmp_path)
    proc = run_isolated(folder, "main.py", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "--output" in proc.stdout


def test_streaming_decoder_runs_from_the_zip_on_pure_python_fastavro(bundle, tmp_path):
    folder = unpack(bundle, "operations_events_stream", tmp_path)
    probe = textwrap.dedent(
        """
        import fastavro.read
        from pipeline_assets import schemas
        from pipeline_assets.spark.operations_events_stream import codec, synthetic
        assert "deps.zip" in codec.__file__ and "deps.zip" in fastavro.__file__, (codec.__file__, fastavro.__file__)
        assert fastavro.read._read.__name__ == "fastavro._read_py"  # no compiled extension came along
        decoder = codec.Decoder.for_topic("operations.events.v1")
        [event] = synthetic.events(1)
        decoded = decoder.decode(codec.encode(event, schemas.current_schema("operations.events.v1-value")))
        assert decoded.error is None and decoded.record["event_id"] == event["event_id"]
        print("ok")
        """
    )
    proc = run_isolated(folder, "-c", probe)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_a_job_without_entry_point_fails_the_build(repo_root, tmp_path):
    import shutil

    shutil.copytree(
        repo_root / "pipeline_assets", tmp_path / "pipeline_assets", ignore=shutil.ignore_patterns("__pycache__")
    )
    (tmp_path / "pipeline_assets/spark/product_catalog_batch/main.py").unlink()
    with pytest.raises(SparkBundleError, match=r"product_catalog_batch/main\.py is missing"):
        dict(spark(tmp_path))
