import json
import shutil

from cicd.gate.checks.avro_compat import AvroCompatibility
from cicd.gate.model import GateContext
from cicd.gate.registry import all_checks


def test_registered():
    assert "avro-compat" in {check.name for check in all_checks()}


def test_repository_passes(repo_root, tmp_path):
    assert AvroCompatibility().run(GateContext(root=repo_root, out_dir=tmp_path)) == []


def test_breaking_change_is_an_error_finding_with_file_line_rule_fix(repo_root, tmp_path):
    shutil.copytree(repo_root / "pipeline_assets/schemas", tmp_path / "pipeline_assets/schemas")
    avsc = tmp_path / "pipeline_assets/schemas/operations.events.v1-value.avsc"
    schema = json.loads(avsc.read_text())
    schema["fields"] = [f for f in schema["fields"] if f["name"] != "event_type"]
    schema["fields"].append({"name": "event_type", "type": "int"})  # same name, incompatible type
    avsc.write_text(json.dumps(schema, indent=2))
    findings = AvroCompatibility().run(GateContext(root=tmp_path, out_dir=tmp_path / "out"))
    assert findings and all(f.severity == "error" for f in findings)
    finding = findings[0]
    assert finding.rule == "avro-type-mismatch"
    assert finding.file == "pipeline_assets/schemas/operations.events.v1-value.avsc"
    assert '"event_type"' in avsc.read_text().splitlines()[finding.line - 1]
    assert "OperationEvent.event_type" in finding.message and finding.fix


def test_selected_by_schema_and_contract_changes(repo_root, tmp_path):
    check = AvroCompatibility()
    ctx = lambda files: GateContext(root=repo_root, out_dir=tmp_path, changed_files=frozenset(files))  # noqa: E731
    assert check.selected(ctx({"pipeline_assets/schemas/operations.events.v1-value.avsc"}))
    assert check.selected(ctx({"pipeline_assets/spark/operations_events_stream/query.json"}))
    assert not check.selected(ctx({"dags/crm.py"}))
