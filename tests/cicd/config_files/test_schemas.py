"""The editors' JSON Schemas: generated from the models, committed up to date, named by every YAML file, and
accepting the committed files while refusing what the models refuse field by field."""

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

from cicd import cli
from cicd.config_files import schemas

ROOT = Path(__file__).resolve().parents[3]


def test_the_committed_schemas_are_what_the_models_generate():
    assert schemas.stale(ROOT) == [], "run `cicd config schema` and commit the result"


def test_every_config_file_and_pipeline_spec_names_its_schema_on_its_first_line():
    assert schemas.files_without_modeline(ROOT) == []
    assert (
        (ROOT / "config/dev.yaml").read_text().startswith("# yaml-language-server: $schema=environment.schema.json\n")
    )
    first = (ROOT / "dags/pipelines/crm_accounts.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../platform_dags/spec.schema.json"


def as_editor_sees_it(path: Path) -> object:
    """YAML as a language server reads it: dates are strings (PyYAML would make them date objects)."""
    return json.loads(json.dumps(yaml.safe_load(path.read_text()), default=str))


@pytest.mark.parametrize("schema", schemas.SCHEMAS, ids=lambda s: s.path)
def test_the_committed_files_validate_against_their_schema(schema):
    validator = jsonschema.Draft202012Validator(json.loads((ROOT / schema.path).read_text()))
    files = schema.files(ROOT)
    assert files
    for path in files:
        assert [e.message for e in validator.iter_errors(as_editor_sees_it(path))] == [], path


@pytest.mark.parametrize(
    ("schema_path", "yaml_file", "change", "phrase"),
    [
        ("dags/platform_dags/spec.schema.json", "dags/pipelines/crm_accounts.yaml", {"retires": 3}, "retires"),
        ("dags/platform_dags/spec.schema.json", "dags/pipelines/crm_accounts.yaml", {"freshness_sla": "PT6H"}, "PT6H"),
        ("dags/platform_dags/spec.schema.json", "dags/pipelines/crm_accounts.yaml", {"domain": "finance"}, "finance"),
        ("config/environment.schema.json", "config/dev.yaml", {"regoin": "eu-west-1"}, "regoin"),
    ],
)
def test_an_editor_flags_what_the_model_refuses(schema_path, yaml_file, change, phrase):
    validator = jsonschema.Draft202012Validator(json.loads((ROOT / schema_path).read_text()))
    data = as_editor_sees_it(ROOT / yaml_file) | change
    messages = [e.message for e in validator.iter_errors(data)]
    assert any(phrase in message for message in messages), messages


def test_durations_are_written_the_way_specs_write_them():
    properties = json.loads((ROOT / "dags/platform_dags/spec.schema.json").read_text())["properties"]
    assert properties["retry_delay"]["default"] == "5m"
    assert "format" not in properties["freshness_sla"]  # not ISO 8601 "PT6H"


def test_config_schema_rewrites_what_is_stale_and_check_says_so(tmp_path, capsys):
    for folder in ("config", "dags"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    shutil.copytree(ROOT / "dags/platform_dags", tmp_path / "dags/platform_dags", dirs_exist_ok=True)
    (tmp_path / "config/environment.schema.json").write_text("{}\n")
    dev = tmp_path / "config/dev.yaml"
    dev.write_text(dev.read_text().split("\n", 1)[1])  # the modeline removed
    assert cli.main(["--root", str(tmp_path), "config", "schema", "--check"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "config/environment.schema.json: out of date; run `cicd config schema`",
        "config/dev.yaml: out of date; run `cicd config schema`",
    ]
    assert cli.main(["--root", str(tmp_path), "config", "schema"]) == 0
    assert cli.main(["--root", str(tmp_path), "config", "schema", "--check"]) == 0
    assert dev.read_text() == (ROOT / "config/dev.yaml").read_text()
