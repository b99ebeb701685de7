"""The reports: a pull-request comment, JSON for machines, and one HTML page that needs nothing else."""

import json
import re

import pytest

from cicd.dbt.datadiff import report
from cicd.dbt.datadiff.compare import ColumnChange, Comparison
from cicd.dbt.datadiff.run import DiffRun, ModelDiff
from cicd.dbt.datadiff.selection import Selection
from cicd.dbt.datadiff.verdict import decide


@pytest.fixture
def run():
    changed = Comparison(["order_id"], "key", 100, 99, only_base=1, only_base_examples=[{"order_id": "O-9"}])
    changed.changed_rows = 12
    changed.columns = [
        ColumnChange(
            "status",
            12,
            examples=[{"key": {"order_id": "O-1"}, "base": "placed", "head": "a|b<script>"}],
            transitions=[{"base": "placed", "head": "cancelled", "rows": 12}],
        ),
        ColumnChange(
            "email", 3, masked=True, examples=[{"key": {"order_id": "O-2"}, "base": "tok_aa", "head": "tok_bb"}]
        ),
    ]
    same = Comparison(["order_id"], "key", 100, 100)
    models = [
        ModelDiff("model.p.int_orders", "int_orders", "model", "changed", ["SQL changed"], [], 0, False, "a.yml", {},
                  changed),
        ModelDiff("model.p.orders", "orders", "model", "changed", [], ["model.p.int_orders"], 1, True, "b.yml",
                  {"data_diff": {"max_changed_share": 0.05}}, changed),
        ModelDiff("model.p.products", "products", "model", "unchanged", [], ["model.p.int_orders"], 1, True, "c.yml",
                  {}, same),
    ]  # fmt: skip
    selection = Selection(exposures={"orders_service": ["model.p.int_orders"]})
    diff_run = DiffRun("merge base abc (main)", "working tree", selection, models, {"rebuild_base": 12.5})
    diff_run.data_label = "synthetic data scale 1, seed 42"
    return diff_run


@pytest.fixture
def verdict(run, tmp_path):
    return decide(run.models, tmp_path / "none.yml")


def test_the_markdown_comment_leads_with_what_changes_and_what_needs_an_acknowledgement(run, verdict):
    text = report.render_markdown(run, verdict)
    first = text.splitlines()[0]
    assert first == "### Data diff: 2 of 3 selected model(s) change · 1 need(s) an acknowledgement"
    assert "| `int_orders` | SQL changed | 100 → 99 | 1 | 0 | 12 (12.1%) | `status`, `email` | ℹ️ informs |" in text
    assert "| ↳ `orders` 🔒 | downstream of `int_orders` |" in text and "❌ fails" in text
    assert "Reaches exposure(s) `orders_service`" in text
    assert "placed → cancelled ×12" in text and "`O-9`" in text
    assert "| `email` (masked) | 3 |" in text
    assert "dbt_project/data_changes.yml" in text


def test_values_cannot_break_the_table_or_inject_html(run, verdict):
    text = report.render_markdown(run, verdict)
    assert "<script>" not in text and "a\\|b&lt;script&gt;" in text


def test_the_html_page_is_self_contained(run, verdict):
    page = report.render_html(run, verdict)
    assert page.startswith("<!doctype html>") and "<style>" in page
    assert not re.search(r"https?://|<script|<link|<img|src=|@import|url\(", page)
    assert "orders" in page and "need an acknowledgement" in page and "a|b&lt;script&gt;" in page


def test_the_json_report_holds_every_model_and_the_verdict(run, verdict):
    data = json.loads(report.render_json(run, verdict))
    assert data["summary"] == {"selected": 3, "changed": 2, "failing": 1}
    orders = next(m for m in data["models"] if m["name"] == "orders")
    assert orders["verdict"]["status"] == "fails" and orders["verdict"]["rules"] == ["key-set-changed", "rows-changed"]
    assert orders["why"] == ["downstream of int_orders"] and orders["changed_share"] == pytest.approx(12 / 99)


def test_write_puts_the_three_reports_in_the_folder(run, verdict, tmp_path):
    written = report.write(run, verdict, tmp_path / "gate")
    assert sorted(p.name for p in written.values()) == ["data-diff.html", "data-diff.json", "data-diff.md"]


def test_a_change_that_touches_no_model_says_so(verdict, tmp_path):
    empty = DiffRun("merge base abc (main)", "working tree", Selection(), [], {})
    assert "No dbt model, seed or snapshot is modified" in report.render_markdown(empty, decide([], tmp_path / "x"))
