"""The gate benchmark measures on a scratch clone and leaves every file as it found it."""

from pathlib import Path

import pytest

from cicd.gate import bench

REPO = Path(__file__).resolve().parents[3]


def test_the_four_one_file_changes_exist_and_cover_spec_model_stack_and_handler():
    assert [c.path.split("/")[0] for c in bench.CHANGES] == ["dags", "dbt_project", "stacks", "pipeline_assets"]
    for change in bench.CHANGES:
        assert (REPO / change.path).is_file(), f"{change.path} is gone: point the bench at another file"


def test_a_change_keeps_the_specs_schema_modeline_on_the_first_line():
    """Issue 20 requires `# yaml-language-server: $schema=...` on line 1 of every spec: the bench's comment
    went above it, and the "harmless" change failed test_schemas in every changed-only run."""
    [spec_change] = [c for c in bench.CHANGES if c.path.endswith(".yaml")]
    original = (REPO / spec_change.path).read_bytes()
    changed = spec_change.apply(original)
    assert changed.splitlines()[0] == original.splitlines()[0]
    assert changed.startswith(b"# yaml-language-server: $schema=")
    assert changed.splitlines()[1] == spec_change.line.rstrip("\n").encode()
    assert changed.replace(spec_change.line.encode(), b"", 1) == original
    handler = bench.OneLineChange("handler", "h.py", "# x\n")
    assert handler.apply(b'"""Doc."""\n') == b'# x\n"""Doc."""\n'


def test_each_change_is_applied_alone_and_reverted(tmp_path, monkeypatch):
    for change in bench.CHANGES:
        (tmp_path / change.path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / change.path).write_text("original\n")
    seen = []

    def fake_gate(clone, env, label, *args):
        dirty = [c.path for c in bench.CHANGES if (clone / c.path).read_text() != "original\n"]
        seen.append((args, dirty))
        return bench.Step(label, 1.0, True, {"unit-tests": "1.0"})

    monkeypatch.setattr(bench, "_gate", fake_gate)
    steps = bench.measure(tmp_path, {})
    assert [dirty for _, dirty in seen] == [[], [], [], *[[c.path] for c in bench.CHANGES]]
    assert [args for args, _ in seen][:3] == [("--all", "--no-cache"), ("--all", "--no-cache"), ("--all",)]
    assert all(args == ("--changed-since", "HEAD") for args, _ in seen[3:])
    assert all((tmp_path / c.path).read_text() == "original\n" for c in bench.CHANGES)
    table = bench.render(steps, ("1.0 1.0 1.0", "2.0 2.0 2.0"))
    assert "changed-only: stack (stacks/storage_stack.py)" in table and "unit-tests" in table


def test_a_change_is_reverted_even_when_the_gate_run_breaks(tmp_path, monkeypatch):
    change = bench.CHANGES[0]
    (tmp_path / change.path).parent.mkdir(parents=True)
    (tmp_path / change.path).write_text("original\n")

    def broken(clone, env, label, *args):
        if args[0] == "--changed-since":
            raise SystemExit("gate crashed")
        return bench.Step(label, 1.0, True, {})

    monkeypatch.setattr(bench, "_gate", broken)
    with pytest.raises(SystemExit):
        bench.measure(tmp_path, {}, (change,))
    assert (tmp_path / change.path).read_text() == "original\n"


def test_the_typo_step_misspells_schedule_expects_the_failure_and_restores_the_spec(tmp_path, monkeypatch):
    spec = tmp_path / bench.TYPO.path
    spec.parent.mkdir(parents=True)
    spec.write_text("id: crm_accounts\nschedule: '@daily'\n")
    seen = []

    def fake_gate(clone, env, label, *args, expect_failure=False):
        seen.append((label, spec.read_text(), expect_failure))
        return bench.Step(label, 40.0, False, {"dag-integrity": "6.0"}, first_failure_s=9.5)

    monkeypatch.setattr(bench, "_gate", fake_gate)
    [step] = bench.measure_changes(tmp_path, {}, ())
    assert seen == [(step.label, "id: crm_accounts\nschedul: '@daily'\n", True)]
    assert spec.read_text() == "id: crm_accounts\nschedule: '@daily'\n"


def test_the_targets_table_compares_each_measure_with_the_issues_target():
    steps = [
        bench.Step("warm --no-cache", 150.0, True, {}),
        bench.Step("changed-only: DAG spec (dags/pipelines/crm_accounts.yaml)", 25.0, True, {}),
        bench.Step("changed-only: typo'd spec (dags/pipelines/crm_accounts.yaml)", 40.0, False, {}, 9.5),
        bench.Step("cold (--all --no-cache) @180", 420.0, True, {}),
    ]
    table = bench.targets_table(steps, 180)
    assert "| Changed-only, DAG spec | < 30 s | 25.0 s | met |" in table
    assert "| Changed-only, a typo'd spec | < 15 s | 9.5 s (first failure printed) | met |" in table
    assert "| Warm `--no-cache` | < 120 s | 150.0 s | MISSED |" in table
    assert "| 180-pipeline full gate | < 300 s | 420.0 s | MISSED |" in table
    assert "| Changed-only, stack | < 30 s | not measured | |" in table
