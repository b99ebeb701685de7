"""The modelled cloud time: every step has a source, and the code plane is the rollback drill's own model."""

from __future__ import annotations

from cicd.rehearsal.model import CLOUD_MODEL, modelled_total
from cicd.rollback import drill


def test_every_modelled_step_names_its_source_and_a_range():
    for entry in CLOUD_MODEL:
        assert entry["source"] and 0 <= entry["low"] <= entry["high"], entry


def test_the_code_plane_is_the_drills_pipeline_path():
    dags = [(e["step"], e["low"], e["high"]) for e in CLOUD_MODEL if e["plane"] == "dags"]
    assert dags == [(e["step"], e["low"], e["high"]) for e in drill.MODEL if "pipeline" in e["paths"]]


def test_totals_add_up_per_plane():
    totals = modelled_total()
    assert set(totals) == {"dags", "data", "streaming"}
    assert totals["streaming"] == (
        sum(e["low"] for e in CLOUD_MODEL if e["plane"] == "streaming"),
        sum(e["high"] for e in CLOUD_MODEL if e["plane"] == "streaming"),
    )
