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
    (repo / "build" / "gate").mkdir(parents=True, exist_ok=True)  # the scan cache may have made it
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


class Synth(Check):
    name = "synth"
    description = "reads src and what a step before the gate staged"
    paths = ("src/*.py",)
    staged_inputs = ("build/packages/*.zip",)
    environment_inputs = ("PACKAGES_REQUIRED",)


def test_staged_files_and_declared_environment_variables_are_part_of_the_key(repo):
    # Fails on 9cf02fd: a synth that passed without staged packages was reused after `make packages`
    # (and under PACKAGES_REQUIRED), so the templates with the uploads were never linted.
    def synth_key(env=None):
        return KeyMaker(GateContext(repo, repo / "build" / "gate"), env).pre_key(Synth(), {})

    before = synth_key()
    (repo / "build" / "packages").mkdir(parents=True)
    (repo / "build" / "packages" / "plugins.zip").write_bytes(b"wheels")
    staged = synth_key()
    assert staged != before
    (repo / "build" / "packages" / "plugins.zip").write_bytes(b"other wheels")
    assert synth_key() != staged
    assert synth_key({"PACKAGES_REQUIRED": "true"}) != synth_key({"PACKAGES_REQUIRED": "false"})
    assert synth_key({"UNRELATED": "1"}) == synth_key()
    assert key(repo, Lint()) == key(repo, Lint())  # checks that declare neither are unaffected


def test_cdk_synth_declares_the_staged_packages_and_the_flag_it_reads():
    from cicd.gate.checks.cdk_synth import CdkSynth
    from stacks.staged_packages import DEFAULT_PACKAGES_DIR

    assert "PACKAGES_REQUIRED" in CdkSynth.environment_inputs
    root = DEFAULT_PACKAGES_DIR.parents[1]
    staged_dir = DEFAULT_PACKAGES_DIR.relative_to(root).as_posix()
    assert {f"{staged_dir}/jars/*", f"{staged_dir}/plugins.zip"} <= set(CdkSynth.staged_inputs)
