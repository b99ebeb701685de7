"""The scale benchmark: realistic generated specs, a grown copy of dags/, and the gate's own check on it."""

import random
from collections import Counter
from pathlib import Path

import pytest
import yaml

from cicd.dags import bench
from cicd.dags.scaffold import dag_file_source
from platform_vocabulary.pipeline_spec import load_spec

ROOT = Path(__file__).resolve().parents[3]


def test_generated_specs_are_valid_and_cover_every_shape(tmp_path):
    rng = random.Random(180)
    shapes = Counter()
    for index in range(120):
        spec = bench.generate_spec(index, rng)
        path = tmp_path / f"{spec['id']}.yaml"
        path.write_text(yaml.safe_dump(spec))
        loaded = load_spec(path)
        shapes[loaded.source.kind if loaded.source else ("publish" if loaded.publish else "transform")] += 1
    assert set(shapes) == {"s3", "snowflake_stage", "kafka", "transform", "publish"}
    assert shapes["s3"] > shapes["snowflake_stage"] > shapes["kafka"]


def test_generation_is_reproducible():
    first = [bench.generate_spec(i, random.Random(7)) for i in range(5)]
    second = [bench.generate_spec(i, random.Random(7)) for i in range(5)]
    assert first == second


def test_prepare_grows_a_copy_to_the_requested_size(tmp_path):
    folder, generated = bench.prepare(ROOT, tmp_path, pipelines=25)
    specs = sorted((folder / "pipelines").glob("*.yaml"))
    real = len(list((ROOT / "dags" / "pipelines").glob("*.yaml")))
    assert len(specs) == 25 and generated == 25 - real
    for spec in specs:
        assert (folder / f"{spec.stem}.py").read_text() == dag_file_source(spec.stem)
    assert (folder / "platform_dags" / "factory.py").exists()
    assert not list(folder.rglob("__pycache__"))


@pytest.mark.slow
def test_a_small_benchmark_runs_the_real_check(tmp_path):
    result = bench.run(ROOT, 12)
    assert result.pipelines == 12
    assert result.errors == 0, [f.render() for f in result.run.errors]
    assert result.timing["files"] == 12
    assert result.timing["dags"] >= 12
    assert 0 < result.timing["p50_seconds"] <= result.timing["p95_seconds"] <= result.timing["max_seconds"]
    assert result.timing["peak_rss_mb"] > 50
