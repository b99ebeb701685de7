"""Cache keys come from the working tree: dirty edits and untracked files count, build output never does."""

import subprocess
from pathlib import Path

import pytest

from cicd.gate.keys import KeyMaker
from cicd.gate.model import Check, GateContext


class Lint(Check):
    name = "lint"
    description = "reads src"
    paths = ("src/*.py",)


class Docs(Check):
    name = "docs"
    description = "reads docs only"
    paths = ("docs/*",)


class Compare(Check):
    name = "compare"
    description = "compares with the base commit"
    paths = ("src/*",)
    uses_base_ref = True


def key(root: Path, check: Check, **ctx) -> str:
    return KeyMaker(GateContext(root, root / "build" / "gate", **ctx)).pre_key(check, {})


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    files = {
        ".gitignore": "/build/\n",
        "lib/__init__.py": "",
        "lib/util.py": "X = 1\n",
        "src/app.py": "from lib.util import X\n",
        "docs/a.md": "a\n",
        "requirements-dev.lock": "ruff==1\n",
    }
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "."], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=tmp_path, check=True)
    return tmp_path


def test_a_dirty_edit_and_an_untracked_input_change_the_key(repo):
    before = key(repo, Lint())
    (repo / "src" / "app.py").write_text("from lib.util import X\nY = X\n")  # not committed
    dirty = key(repo, Lint())
    (repo / "src" / "new.py").write_text("")  # untracked
    assert len({before, dirty, key(repo, Lint())}) == 3


def test_a_change_to_what_an_input_imports_changes_the_key(repo):
    before = key(repo, Lint())
    (repo / "lib" / "util.py").write_text("X = 2\n")
    assert key(repo, Lint()) != before


def test_files_outside_the_inputs_and_gate_output_leave_the_key_alone(repo):
    before = key(repo, Lint())
    (repo / "docs" / "a.md").write_text("b\n")
    (repo / "build" / "gate").mkdir(parents=True)
    (repo / "build" / "gate" / "report.json").write_text("{}")
    assert key(repo, Lint()) == before


def test_a_lock_file_change_is_a_tool_change_for_every_check(repo):
    before = {key(repo, Lint()), key(repo, Docs())}
    (repo / "requirements-dev.lock").write_text("ruff==2\n")
    assert before.isdisjoint({key(repo, Lint()), key(repo, Docs())})


def test_the_base_commit_counts_for_checks_that_compare_with_it(repo):
    head = key(repo, Compare(), base_ref="HEAD", changed_files=frozenset())
    subprocess.run(
        ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "2"], cwd=repo
    )
    assert key(repo, Compare(), base_ref="HEAD", changed_files=frozenset()) != head
    assert key(repo, Lint(), base_ref="HEAD", changed_files=frozenset()) == key(repo, Lint())


def test_the_needed_checks_keys_are_part_of_the_key(repo):
    class After(Lint):
        name = "after"
        needs = ("lint",)

    maker = KeyMaker(GateContext(repo, repo / "build" / "gate"))
    assert maker.pre_key(After(), {"lint": "1" * 64}) != maker.pre_key(After(), {"lint": "2" * 64})


def test_the_unit_tests_result_depends_on_every_file_tests_may_read(repo):
    from cicd.gate.checks.unit_tests import UnitTests

    before = key(repo, UnitTests())
    (repo / "cdk.json").write_text("{}")  # read by the synth tests, though it does not select them
    assert key(repo, UnitTests()) != before
