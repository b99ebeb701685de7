import json
import shutil
import subprocess
from pathlib import Path

import pytest

from cicd.schemas import cli
from cicd.schemas.subjects import check_repository, fingerprint, record_baseline

SUBJECT = "operations.events.v1-value"
AVSC = Path("pipeline_assets/schemas/operations.events.v1-value.avsc")
RELEASED = Path("pipeline_assets/schemas/released/operations.events.v1-value.json")
CONTRACT = Path("pipeline_assets/spark/operations_events_stream/query.json")


@pytest.fixture
def repo(tmp_path, repo_root):
    """A copy of the repository's schemas and the streaming contract, to change freely."""
    shutil.copytree(repo_root / "pipeline_assets/schemas", tmp_path / "pipeline_assets/schemas",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    (tmp_path / CONTRACT).parent.mkdir(parents=True)
    shutil.copy(repo_root / CONTRACT, tmp_path / CONTRACT)
    return tmp_path


def edit_schema(repo, change):
    schema = json.loads((repo / AVSC).read_text())
    change(schema)
    (repo / AVSC).write_text(json.dumps(schema, indent=2) + "\n")


def errors(problems):
    return [p for p in problems if p.severity == "error"]


def test_repository_schemas_pass(repo_root):
    assert check_repository(repo_root) == []


def test_released_history_fingerprints_match_the_wire_ids(repo_root):
    history = json.loads((repo_root / RELEASED).read_text())["versions"]
    assert [v["version"] for v in history] == list(range(1, len(history) + 1))
    assert all(v["fingerprint"] == fingerprint(v["schema"]) for v in history)


def test_incompatible_change_names_file_line_field_rule_and_fix(repo):
    # A new required field: data already in the topic cannot be read with it.
    edit_schema(repo, lambda s: s["fields"].append({"name": "priority", "type": "int"}))
    problems = errors(check_repository(repo))
    assert {p.rule for p in problems} == {"avro-reader-field-missing-default"}
    assert {p.message.split("reading version ")[1] for p in problems} == {"1 data)", "2 data)"}  # transitive
    problem = problems[-1]
    assert problem.file == str(AVSC)
    assert "OperationEvent.priority" in problem.message
    assert "BACKWARD_TRANSITIVE" in problem.message
    assert '"priority"' in (repo / AVSC).read_text().splitlines()[problem.line - 1]
    assert "default" in problem.fix


def test_transitive_mode_checks_every_released_version(repo):
    # Removing the v2 fields' defaults: readable from v2 data, not from v1 data.
    def drop_default(schema):
        for field in schema["fields"]:
            if field["name"] == "site_id":
                del field["default"]

    edit_schema(repo, drop_default)
    problems = errors(check_repository(repo))
    assert [p.rule for p in problems] == ["avro-reader-field-missing-default"]
    assert "version 1" in problems[0].message


def test_declared_mode_is_honoured(repo):
    declared = json.loads((repo / "pipeline_assets/schemas/subjects.json").read_text())
    declared[SUBJECT]["compatibility"] = "FORWARD"
    (repo / "pipeline_assets/schemas/subjects.json").write_text(json.dumps(declared))
    # Removing a defaultless field breaks old readers (FORWARD) though new readers are fine.
    edit_schema(repo, lambda s: s.update(fields=[f for f in s["fields"] if f["name"] != "account_id"]))
    [problem] = errors(check_repository(repo))
    assert problem.rule == "avro-reader-field-missing-default"
    assert "OperationEvent.account_id" in problem.message and "reading new data" in problem.message


def test_compatible_change_is_a_warning_until_recorded_then_clean(repo):
    edit_schema(repo, lambda s: s["fields"].append({"name": "region", "type": ["null", "string"], "default": None}))
    [warning] = check_repository(repo)
    assert (warning.rule, warning.severity) == ("schema-not-recorded", "warning")
    assert "schemas baseline" in warning.fix
    assert record_baseline(repo) == [f"{SUBJECT} v3 ({fingerprint(json.loads((repo / AVSC).read_text()))})"]
    assert check_repository(repo) == []
    assert record_baseline(repo) == []  # idempotent


def test_baseline_refuses_an_incompatible_schema(repo):
    edit_schema(repo, lambda s: s["fields"].append({"name": "priority", "type": "int"}))
    before = (repo / RELEASED).read_text()
    with pytest.raises(ValueError, match="avro-reader-field-missing-default"):
        record_baseline(repo)
    assert (repo / RELEASED).read_text() == before


def test_edited_released_version_is_tampering(repo):
    history = json.loads((repo / RELEASED).read_text())
    history["versions"][0]["schema"]["fields"].pop()
    (repo / RELEASED).write_text(json.dumps(history))
    problems = errors(check_repository(repo))
    assert [p.rule for p in problems] == ["schema-history-tampered"]
    assert problems[0].file == str(RELEASED) and "immutable" in problems[0].fix


def test_history_rewritten_since_base_ref(repo):
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "base"], cwd=repo, check=True)
    history = json.loads((repo / RELEASED).read_text())
    history["versions"] = history["versions"][1:]
    history["versions"][0]["version"] = 1
    (repo / RELEASED).write_text(json.dumps(history))
    rules = {p.rule for p in errors(check_repository(repo, base_ref="HEAD"))}
    assert "schema-history-rewritten" in rules
    assert "schema-history-rewritten" not in {p.rule for p in check_repository(repo)}  # needs the base ref


def test_consumed_topic_without_schema(repo):
    contract = json.loads((repo / CONTRACT).read_text())
    contract["sources"][0]["topics"].append("crm.accounts.v1")
    (repo / CONTRACT).write_text(json.dumps(contract))
    [problem] = errors(check_repository(repo))
    assert problem.rule == "schema-missing-for-topic"
    assert problem.file == CONTRACT.as_posix() and "crm.accounts.v1" in problem.message


def test_unknown_mode_and_invalid_schema(repo):
    declared = json.loads((repo / "pipeline_assets/schemas/subjects.json").read_text())
    declared[SUBJECT]["compatibility"] = "SIDEWAYS"
    (repo / "pipeline_assets/schemas/subjects.json").write_text(json.dumps(declared))
    rules = {p.rule for p in check_repository(repo)}
    assert "schema-unknown-compatibility" in rules
    declared[SUBJECT]["compatibility"] = "BACKWARD"
    (repo / "pipeline_assets/schemas/subjects.json").write_text(json.dumps(declared))
    edit_schema(repo, lambda s: s["fields"].append({"name": "bad", "type": "no_such_type"}))
    [problem] = check_repository(repo)
    assert problem.rule == "avro-invalid-schema" and problem.file == str(AVSC)


def test_cli_exit_codes(repo, capsys):
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--root")
    cli.add_parser(parser.add_subparsers())

    def run(*argv):
        args = parser.parse_args(["--root", str(repo), *argv])
        return args.handler(args)

    assert run("schemas", "check") == 0
    edit_schema(repo, lambda s: s["fields"].append({"name": "priority", "type": "int"}))
    assert run("schemas", "check") == 1
    out = capsys.readouterr().out
    assert "avro-reader-field-missing-default" in out and "fix:" in out
    assert run("schemas", "baseline") == 1
    assert run("schemas", "check", "--json") == 1
