"""--changed-since test selection by imports and reads: the two misses of folder mirroring, and the fallbacks."""

from pathlib import Path

import pytest

from cicd.gate.imports import ImportGraph, repo_files
from cicd.gate.selection import select_tests

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def repo_graph() -> ImportGraph:
    return ImportGraph(REPO, repo_files(REPO))


def test_a_construct_change_selects_the_stack_tests_that_assert_on_it(repo_graph):
    # Folder mirroring ran tests/constructs; the dashboards' assertions live in tests/stacks.
    selection = select_tests(REPO, ["constructs/monitoring_dashboards.py"], repo_graph)
    assert not selection.whole_suite
    assert "tests/stacks/test_monitoring_stack.py" in selection.tests


@pytest.mark.parametrize("module", sorted(p.name for p in (REPO / "pipeline_assets" / "ledger").glob("*.py")))
def test_a_ledger_change_selects_the_audit_tools_tests(repo_graph, module):
    # Folder mirroring ran tests/pipeline_assets/ledger only; cicd/audit reads the ledger through its layout.
    selection = select_tests(REPO, [f"pipeline_assets/ledger/{module}"], repo_graph)
    assert not selection.whole_suite
    assert any(t.startswith("tests/cicd/audit/") for t in selection.tests), selection.tests


def test_the_layout_reaches_every_audit_test_that_imports_it(repo_graph):
    selection = select_tests(REPO, ["pipeline_assets/ledger/layout.py"], repo_graph)
    assert {"tests/cicd/audit/test_review.py", "tests/cicd/audit/test_report.py"} <= set(selection.tests)


def write(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(
        tmp_path,
        {
            "lib/__init__.py": "",
            "lib/core.py": "",
            "lib/api.py": "from lib import core\n",
            "lib/specs.py": 'FOLDER = "data/specs"\n',
            "data/specs/a.yaml": "a: 1\n",
            "data/unread/b.json": "{}\n",
            "other/orphan.csv": "x\n",
            "tests/test_api.py": "from lib.api import *\n",
            "tests/lib/test_core.py": "",
            "tests/lib/test_specs.py": "import lib.specs\n",
            "tests/data/unread/test_b.py": "",
            "tests/slow/conftest.py": "",
            "tests/slow/test_one.py": "",
        },
    )
    return tmp_path


def selected(root: Path, *changed: str) -> list[str] | None:
    selection = select_tests(root, changed)
    return None if selection.whole_suite else selection.tests


def test_a_module_selects_tests_that_import_it_transitively_not_its_mirror(project):
    assert selected(project, "lib/core.py") == ["tests/test_api.py"]


def test_a_changed_test_or_conftest_selects_the_tests_below_it(project):
    assert selected(project, "tests/lib/test_core.py") == ["tests/lib/test_core.py"]
    assert selected(project, "tests/slow/conftest.py") == ["tests/slow/test_one.py"]


def test_a_data_file_selects_the_tests_of_the_modules_that_read_it(project):
    assert selected(project, "data/specs/a.yaml") == ["tests/lib/test_specs.py"]


def test_a_data_file_nobody_names_falls_back_to_its_mirrored_tests_then_to_everything(project):
    assert selected(project, "data/unread/b.json") == ["tests/data/unread/test_b.py"]
    assert selected(project, "other/orphan.csv") is None


@pytest.mark.parametrize("trigger", ["pyproject.toml", "requirements-dev.lock", "requirements.txt", "Makefile"])
def test_toolchain_and_project_settings_run_the_whole_suite(project, trigger):
    assert selected(project, "lib/core.py", trigger) is None


def test_a_deleted_module_selects_the_tests_that_still_import_it(project):
    (project / "lib" / "core.py").unlink()
    assert selected(project, "lib/core.py") == ["tests/test_api.py"]


def test_a_test_that_does_not_parse_is_selected_by_any_change(project):
    write(project, {"tests/test_broken.py": "def test(:\n"})
    assert "tests/test_broken.py" in selected(project, "lib/specs.py")
