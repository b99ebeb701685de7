import json
import shutil
from pathlib import Path

import pytest

from cicd.gate.checks.sql_lint import SqlLint, lint_targets, parse_report
from cicd.gate.model import GateContext, ToolError

ROOT = Path(__file__).resolve().parents[4]
BAD = ROOT / "tests" / "fixtures" / "dbt" / "lint" / "bad_model.sql"


def ctx(root: Path, changed=None) -> GateContext:
    return GateContext(root=root, out_dir=root / "build" / "gate", changed_files=changed)


def test_all_lints_every_model_and_test_folder(tmp_path):
    assert lint_targets(ctx(tmp_path)) == ["dbt_project/models", "dbt_project/tests"]


def test_changed_since_lints_only_changed_sql_that_still_exists(tmp_path):
    (tmp_path / "dbt_project/models/marts").mkdir(parents=True)
    (tmp_path / "dbt_project/models/marts/a.sql").write_text("select 1 as a\n")
    changed = frozenset({"dbt_project/models/marts/a.sql", "dbt_project/models/marts/deleted.sql", "README.md"})
    assert lint_targets(ctx(tmp_path, changed)) == ["dbt_project/models/marts/a.sql"]


def test_a_config_change_relints_everything(tmp_path):
    changed = frozenset({".sqlfluff", "dbt_project/models/marts/a.sql"})
    assert lint_targets(ctx(tmp_path, changed)) == ["dbt_project/models", "dbt_project/tests"]


def test_not_selected_when_no_sql_or_config_changed(tmp_path):
    assert not SqlLint().selected(ctx(tmp_path, frozenset({"dags/x.py"})))
    assert SqlLint().selected(ctx(tmp_path, frozenset({"dbt_project/models/staging/crm/x.sql"})))


def test_report_parsing_names_file_line_rule_and_fix(tmp_path):
    report = [
        {
            "filepath": str(tmp_path / "dbt_project/models/x.sql"),
            "violations": [
                {"code": "CP01", "name": "capitalisation.keywords", "description": "Keywords must be lower case.",
                 "start_line_no": 3, "warning": False, "fixes": [{"type": "replace"}]},
                {"code": "TMP", "description": "Undefined jinja template variable: 'dbt'", "start_line_no": 7},
            ],
        }
    ]  # fmt: skip
    first, second = parse_report(json.dumps(report), ctx(tmp_path))
    assert (first.rule, first.file, first.line) == ("sqlfluff:CP01", "dbt_project/models/x.sql", 3)
    assert first.fix == "run `sqlfluff fix dbt_project/models/x.sql` (rule capitalisation.keywords)"
    assert second.rule == "sqlfluff:TMP" and "lint_library" in second.fix


def test_unparseable_output_is_a_tool_error(tmp_path):
    with pytest.raises(ToolError, match="not JSON"):
        parse_report("Traceback (most recent call last):", ctx(tmp_path))


@pytest.mark.slow
def test_a_deliberately_bad_model_fails_the_lint(tmp_path):
    for item in (".sqlfluff", ".sqlfluffignore"):
        shutil.copy(ROOT / item, tmp_path / item)
    shutil.copytree(ROOT / "dbt_project/lint_library", tmp_path / "dbt_project/lint_library")
    shutil.copytree(ROOT / "dbt_project/macros", tmp_path / "dbt_project/macros")
    (tmp_path / "dbt_project/models/marts").mkdir(parents=True)
    (tmp_path / "dbt_project/tests").mkdir(parents=True)
    shutil.copy(BAD, tmp_path / "dbt_project/models/marts/bad_model.sql")
    good = ROOT / "dbt_project/models/marts/crm/customer_health.sql"
    shutil.copy(good, tmp_path / "dbt_project/models/marts/customer_health.sql")

    findings = SqlLint().run(ctx(tmp_path))

    assert {f.file for f in findings} == {"dbt_project/models/marts/bad_model.sql"}
    rules = {f.rule for f in findings}
    # lower-case keywords, trailing commas, explicit aliases (the conventions' three named rules)
    assert {"sqlfluff:CP01", "sqlfluff:LT04", "sqlfluff:AL02", "sqlfluff:AL01"} <= rules
    assert all(f.line and f.fix for f in findings)
