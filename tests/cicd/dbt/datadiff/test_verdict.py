"""The data diff informs; a contracted model fails on a key-set change or too many changed rows, until acknowledged."""

from pathlib import Path

from cicd.dbt.datadiff.compare import ColumnChange, Comparison
from cicd.dbt.datadiff.run import ModelDiff
from cicd.dbt.datadiff.verdict import decide

YML = "dbt_project/models/marts/crm/_crm__models.yml"


def diff(name="orders", *, contracted=True, only_base=0, only_head=0, changed=0, rows=100, share=0.05, state=None):
    comparison = Comparison(["order_id"], "key", rows, rows - only_base + only_head, only_base, only_head)
    comparison.changed_rows = changed
    if changed:
        comparison.columns = [ColumnChange("status", changed)]
    has = bool(only_base or only_head or changed)
    meta = {"data_diff": {"max_changed_share": share}} if share is not None else {}
    return ModelDiff(
        f"model.p.{name}", name, "model", state or ("changed" if has else "unchanged"), ["SQL changed"], [], 0,
        contracted, YML, meta, comparison,
    )  # fmt: skip


def acks(tmp_path: Path, *entries: tuple[str, str]) -> Path:
    path = tmp_path / "data_changes.yml"
    body = "".join(
        f"  - model: {model}\n    change: {change}\n    reason: Orders now cancel on payment failure (DP-9).\n"
        "    approved_by: jane.doe\n"
        for model, change in entries
    )
    path.write_text("acknowledgements:\n" + body if entries else "acknowledgements: []\n")
    return path


def test_a_contracted_model_whose_keys_change_fails_naming_the_file_and_how_to_acknowledge(tmp_path):
    verdict = decide([diff(only_base=3, only_head=1)], acks(tmp_path))
    [finding] = verdict.findings
    assert finding.rule == "data-diff:key-set-changed" and finding.severity == "error"
    assert finding.file == YML and "3 key(s) gone, 1 key(s) new" in finding.message
    assert "model: orders, change: key-set-changed" in finding.fix and "dbt_project/data_changes.yml" in finding.fix
    assert verdict.failing == ["model.p.orders"]


def test_changed_rows_over_the_models_threshold_fail_and_under_it_pass(tmp_path):
    over = decide([diff(changed=6, share=0.05)], acks(tmp_path))
    assert [f.rule for f in over.findings] == ["data-diff:rows-changed"]
    assert "6.0% of rows changed value, more than 5.0%" in over.findings[0].message
    under = decide([diff(changed=5, share=0.05)], acks(tmp_path))
    assert under.failing == [] and under.by_model["model.p.orders"].status == "within threshold"
    assert [f.severity for f in under.findings] == ["warning"]  # still shown, as information


def test_an_acknowledgement_lets_exactly_that_change_pass(tmp_path):
    verdict = decide([diff(only_base=2, changed=50)], acks(tmp_path, ("orders", "key-set-changed")))
    assert [f.rule for f in verdict.findings if f.severity == "error"] == ["data-diff:rows-changed"]
    both = decide(
        [diff(only_base=2, changed=50)], acks(tmp_path, ("orders", "key-set-changed"), ("orders", "rows-changed"))
    )
    assert both.failing == [] and both.by_model["model.p.orders"].status == "acknowledged"


def test_an_acknowledgement_that_matches_nothing_expires_as_a_warning(tmp_path):
    verdict = decide([diff()], acks(tmp_path, ("orders", "rows-changed")))
    [finding] = verdict.findings
    assert (finding.rule, finding.severity, finding.line) == ("data-diff:ack-unused", "warning", 2)


def test_models_without_a_contract_only_inform(tmp_path):
    verdict = decide([diff("int_orders", contracted=False, only_base=50, changed=50)], acks(tmp_path))
    assert verdict.failing == []
    [finding] = verdict.findings
    assert (finding.rule, finding.severity) == ("data-diff:changed", "warning")
    assert "50 row(s) only in base" in finding.message


def test_a_threshold_that_is_not_a_share_is_an_error_naming_the_yaml_and_the_fix(tmp_path):
    bad = diff(share=None)
    bad.meta = {"data_diff": {"max_changed_share": "5%"}}
    [finding] = [f for f in decide([bad], acks(tmp_path)).findings if f.severity == "error"]
    assert finding.rule == "data-diff:invalid-threshold" and finding.file == YML
    assert "'5%'" in finding.message and "from 0 to 1" in finding.fix


def test_a_model_that_could_not_be_built_is_a_warning_not_a_silent_pass(tmp_path):
    broken = diff(state="failed")
    broken.comparison, broken.error = None, "head error: Binder Error"
    verdict = decide([broken], acks(tmp_path))
    assert [(f.rule, f.severity) for f in verdict.findings] == [("data-diff:not-built", "warning")]
    assert verdict.by_model["model.p.orders"].status == "not compared"
