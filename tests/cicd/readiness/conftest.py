"""The rule pack's fixtures: each rule has a good and a bad one in rules/fixtures/<rule module>/.

A fixture is a small cloud assembly as JSON (see `assembly_dir` in tests/cicd/conftest.py) and, where a
rule needs them, the facts the templates cannot show.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cicd.readiness.assembly import Assembly
from cicd.readiness.facts import Facts
from cicd.readiness.findings import Finding
from cicd.readiness.iam_reference import locate
from cicd.readiness.rule import Context, Rule

FIXTURES = Path(__file__).parent / "rules" / "fixtures"


def facts_of(spec: dict[str, Any], repo_root: Path) -> Facts:
    given = spec.get("facts", {})
    return Facts(
        bootstrap_qualifier=given.get("bootstrap_qualifier", "hnb659fds"),
        lambda_concurrency_quota=given.get("lambda_concurrency_quota", {}),
        makefile=given.get("makefile", ""),
        iam_reference=locate(repo_root),
    )


class RuleFixtures:
    def __init__(self, write: Callable[[dict[str, Any], str], Path], tmp_path: Path, repo_root: Path) -> None:
        self.write = write
        self.tmp_path = tmp_path
        self.repo_root = repo_root

    def spec(self, rule: Rule, kind: str) -> dict[str, Any]:
        module = type(rule).__module__.rsplit(".", 1)[-1]
        return json.loads((FIXTURES / module / f"{kind}.json").read_text())

    def context(self, spec: dict[str, Any], name: str = "cdk.out") -> Context:
        out = self.write(spec, name)
        return Context(Assembly.load(out), facts_of(spec, self.repo_root), self.tmp_path)

    def run(self, rule: Rule, kind: str) -> list[Finding]:
        return list(rule.check(self.context(self.spec(rule, kind), kind)))


@pytest.fixture
def fixtures(assembly_dir: Callable[[dict[str, Any], str], Path], tmp_path: Path, repo_root: Path) -> RuleFixtures:
    return RuleFixtures(assembly_dir, tmp_path, repo_root)


@pytest.fixture
def assembly_of(assembly_dir: Callable[[dict[str, Any], str], Path]) -> Callable[[dict[str, Any]], Assembly]:
    def build(spec: dict[str, Any]) -> Assembly:
        return Assembly.load(assembly_dir(spec, "cdk.out"))

    return build
