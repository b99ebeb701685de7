"""The gate with its result cache: unchanged inputs reuse a stored pass; anything else runs again."""

import json
from pathlib import Path

import pytest

from cicd.gate import report
from cicd.gate.cache import LocalStore
from cicd.gate.keys import KeyMaker
from cicd.gate.model import Check, Finding, GateContext, Status
from cicd.gate.reuse import ResultCache
from cicd.gate.runner import run_checks

RUNS: list[str] = []


class Compile(Check):
    """Fails while src/main.py says BROKEN; writes build/out/app.txt for Package."""

    name = "compile"
    description = "compile"
    paths = ("src/*",)
    outputs = ("build/out/app.txt",)

    def run(self, ctx):
        RUNS.append(self.name)
        text = ctx.path("src/main.py").read_text()
        if "BROKEN" in text:
            return [Finding("compile:broken", "does not compile", file="src/main.py", line=1)]
        out = ctx.path("build/out/app.txt")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("app:" + ("v2" if "v2" in text else "v1"))
        return [Finding("compile:style", "long line", file="src/main.py", severity="warning")]


class Package(Check):
    """Keyed on what Compile wrote, not on src/."""

    name = "package"
    description = "package"
    paths = Compile.paths
    needs = ("compile",)
    inputs = ()
    build_inputs = ("build/out/*.txt",)

    def run(self, ctx):
        RUNS.append(self.name)
        return []


class Docs(Check):
    name = "docs"
    description = "docs"
    paths = ("docs/*",)

    def run(self, ctx):
        RUNS.append(self.name)
        return []


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.py").write_text("print('v1')  # comment\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("a\n")
    RUNS.clear()
    return tmp_path


def gate(root: Path, *, lookup: bool = True, checks=None) -> dict[str, object]:
    checks = checks or [Compile(), Package(), Docs()]
    ctx = GateContext(root, root / "build" / "gate")
    cache = ResultCache(LocalStore(root / "build" / "gate" / "cache"), KeyMaker(ctx), checks, lookup=lookup)
    RUNS.clear()
    return {r.name: r for r in run_checks(checks, ctx, jobs=2, cache=cache)}


def test_nothing_changed_reuses_every_stored_pass_with_its_findings(repo):
    first = gate(repo)
    assert sorted(RUNS) == ["compile", "docs", "package"]
    assert all(r.cache.action == "stored" for r in first.values())
    second = gate(repo)
    assert RUNS == []
    assert all(r.status is Status.PASSED and r.reused for r in second.values())
    assert second["compile"].findings == first["compile"].findings  # warnings survive the round trip
    assert second["compile"].cache.stored_at == first["compile"].cache.stored_at


def test_a_broken_file_is_never_reused_from_the_cache(repo):
    gate(repo)
    (repo / "src" / "main.py").write_text("BROKEN\n")
    for _ in range(2):  # the failure is not stored: it runs, and fails, every time
        results = gate(repo)
        assert "compile" in RUNS and results["compile"].status is Status.FAILED
        assert results["compile"].cache.action == "not stored"
        assert results["package"].status is Status.SKIPPED
    assert all(json.loads(p.read_text())["status"] == "passed" for p in (repo / "build/gate/cache").rglob("*.json"))


def test_a_dependencys_change_reruns_its_dependent_unless_its_output_is_unchanged(repo):
    gate(repo)
    (repo / "src" / "main.py").write_text("print('v1')  # other comment\n")  # same build output
    results = gate(repo)
    assert RUNS == ["compile"] and results["package"].reused and results["docs"].reused
    assert "build/out/*.txt" in results["package"].cache.reason
    (repo / "src" / "main.py").write_text("print('v2')\n")  # different build output
    gate(repo)
    assert RUNS == ["compile", "package"]


def test_a_dependent_without_build_inputs_reruns_when_what_it_needs_changed(repo):
    class Release(Docs):
        name = "release"
        needs = ("compile",)

    checks = [Compile(), Release()]
    gate(repo, checks=checks)
    (repo / "src" / "main.py").write_text("print('v1')  # other comment\n")
    gate(repo, checks=checks)
    assert RUNS == ["compile", "release"]


class Tests(Docs):
    name = "tests"
    narrows = True


def test_a_narrowed_pass_does_not_stand_for_a_full_run_but_a_full_pass_covers_a_narrowed_one(repo):
    def run(changed):
        ctx = GateContext(repo, repo / "build" / "gate", changed_files=changed, base_ref="HEAD" if changed else None)
        cache = ResultCache(LocalStore(repo / "build" / "gate" / "cache"), KeyMaker(ctx), [Tests()])
        RUNS.clear()
        return run_checks([Tests()], ctx, jobs=1, cache=cache)[0]

    assert run(frozenset({"docs/a.md"})).cache.action == "stored"
    assert not run(None).reused  # the narrowed pass covered part of the suite only
    assert run(frozenset({"docs/a.md", "docs/b.md"})).reused


def test_a_producer_is_not_reused_when_its_output_is_gone(repo):
    gate(repo)
    (repo / "build" / "out" / "app.txt").unlink()  # e.g. a fresh checkout with a shared cache
    results = gate(repo)
    assert RUNS == ["compile"] and results["package"].reused
    assert (repo / "build" / "out" / "app.txt").exists()


def test_no_cache_runs_everything_and_still_stores(repo):
    gate(repo)
    results = gate(repo, lookup=False)
    assert sorted(RUNS) == ["compile", "docs", "package"]
    assert all(r.cache.action == "stored" for r in results.values())


def test_reports_say_which_checks_were_reused_with_key_and_time(repo, tmp_path):
    gate(repo)
    results = list(gate(repo).values())
    import io

    text = io.StringIO()
    report.render_table(results, 0.1, text)
    assert "reused from the result cache" in text.getvalue() and "docs: reused (key " in text.getvalue()
    payload = report.as_dict(results, 0.1, True, "all")
    cache = next(c["cache"] for c in payload["checks"] if c["name"] == "docs")
    assert cache["action"] == "reused" and len(cache["key"]) == 64 and cache["stored_at"]
    junit = tmp_path / "junit.xml"
    report.write_junit(results, 0.1, junit)
    assert 'name="cache.action" value="reused"' in junit.read_text()
