"""`python -m cicd readiness`: the pack on any cloud assembly, exit codes as every command has them."""

import json
from pathlib import Path

import pytest

from cicd.cli import main
from cicd.options import ExitCode

FIXTURES = Path(__file__).parent / "rules" / "fixtures" / "topic_allows_its_publishers"


@pytest.fixture(autouse=True)
def no_reviewed_suppressions(monkeypatch):
    """The repository's reviewed suppressions name its own stacks; on these small assemblies each would be unused."""
    from cicd.readiness import pack

    monkeypatch.setattr(pack, "load_reviewed_suppressions", lambda root: [])


def spec(kind):
    return json.loads((FIXTURES / f"{kind}.json").read_text())


def test_findings_are_listed_by_rule_with_stack_logical_id_and_fix_and_exit_1(assembly_dir, repo_root, capsys):
    code = main(["--root", str(repo_root), "readiness", "--assembly", str(assembly_dir(spec("bad")))])

    out = capsys.readouterr().out
    assert code == ExitCode.FAILED
    assert "TopicAllowsItsPublishers (2)" in out
    assert "DeliveryAudit EvidenceAlarmsPolicy:" in out and "Fix: add a topic-policy statement" in out
    assert "deploy-readiness FAILED: 2 finding(s) of 1 rule(s)" in out


def test_a_ready_assembly_exits_0_and_json_says_it_passed(assembly_dir, repo_root, capsys):
    code = main(["--root", str(repo_root), "readiness", "--assembly", str(assembly_dir(spec("good"))), "--json"])

    report = json.loads(capsys.readouterr().out)
    assert code == ExitCode.OK
    assert report["passed"] is True and report["open"] == {}
    assert "RoleNamedBeforeItIsCreated" in report["rules"]


def test_a_missing_assembly_exits_2_and_says_to_synthesize(tmp_path, repo_root, capsys):
    code = main(["--root", str(repo_root), "readiness", "--assembly", str(tmp_path / "nothing")])

    assert code == ExitCode.USAGE
    assert "run cdk synth first" in capsys.readouterr().err


def test_list_names_every_rule_and_what_it_finds(capsys):
    assert main(["readiness", "--list"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "KmsKeyAllowsEveryServiceThatEncryptsWithIt" in out and "QueueSenderHasKeyGrant" in out
