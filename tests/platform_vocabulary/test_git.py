"""One way to ask git: what it printed, a failure naming the command and git's words, never a traceback."""

from __future__ import annotations

import subprocess

import pytest

from platform_vocabulary.git import git, git_output


@pytest.fixture
def repo(tmp_path):
    def run(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    run("init", "--quiet", "--initial-branch=main")
    (tmp_path / "a.txt").write_text("one\n")
    run("add", "a.txt")
    run("-c", "user.name=T", "-c", "user.email=t@example.test", "commit", "--quiet", "-m", "first")
    return tmp_path


def test_the_output_is_what_git_printed_and_stripped_text_is_one_call_away(repo):
    assert git(repo, "show", "HEAD:a.txt").text == "one\n"
    assert git_output(repo, "log", "-1", "--format=%s") == "first"


def test_a_failed_command_is_none_for_those_who_fall_back_and_an_error_naming_it_for_those_who_stop(repo):
    assert git_output(repo, "show", "HEAD:missing.txt") is None
    with pytest.raises(LookupError, match=r"^git show HEAD:missing\.txt failed: fatal: .*missing\.txt"):
        git(repo, "show", "HEAD:missing.txt").or_raise(LookupError)


def test_a_folder_that_is_no_checkout_gives_none(tmp_path):
    assert git_output(tmp_path, "rev-parse", "HEAD") is None


def test_git_missing_from_the_path_is_a_failed_run_not_a_traceback(repo, monkeypatch):
    monkeypatch.setenv("PATH", str(repo / "no-such-bin"))
    run = git(repo, "rev-parse", "HEAD")
    assert not run.ok and "git could not be run" in run.stderr
    assert git_output(repo, "rev-parse", "HEAD") is None
