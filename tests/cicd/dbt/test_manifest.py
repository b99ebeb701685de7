"""Reading dbt's manifest.json: a missing or wrong file names itself and how to get a good one."""

from __future__ import annotations

import json

import pytest

from cicd.dataservices import manifest as dataservices_manifest
from cicd.dbt import compat
from cicd.dbt.manifest import ManifestError, read_manifest


def test_a_manifest_reads_as_dbt_wrote_it(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"metadata": {}, "nodes": {}, "sources": {}}))
    assert read_manifest(path) == {"metadata": {}, "nodes": {}, "sources": {}}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read the dbt manifest"),
        ("{not json", "not JSON"),
        ('{"Resources": {}}', "is not a dbt manifest (it has no nodes or sources)"),
        ("[]", "is not a dbt manifest"),
    ],
)
def test_a_bad_manifest_names_the_file_the_problem_and_the_fix(tmp_path, content, message):
    path = tmp_path / "manifest.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ManifestError) as error:
        read_manifest(path)
    assert message in str(error.value) and str(path) in str(error.value)
    assert "run `dbt parse`" in str(error.value)


def test_every_reader_reports_a_cloudformation_template_as_not_a_manifest(tmp_path):
    """The compat check used to fail with a bare KeyError message, the data-service build to read no models."""
    path = tmp_path / "manifest.json"
    path.write_text('{"Resources": {}}')
    with pytest.raises(compat.CompatError, match="is not a dbt manifest"):
        compat.load_manifest(path)
    with pytest.raises(dataservices_manifest.ManifestError, match="is not a dbt manifest"):
        dataservices_manifest.load(path)
    with pytest.raises(ManifestError, match="is not a dbt manifest"):
        compat.write_baseline(path, tmp_path / "baseline.json")
