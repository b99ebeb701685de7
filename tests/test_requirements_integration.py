"""requirements-integration.lock: everything the in-VPC integration tests import, on the dev pins (L3)."""

from __future__ import annotations

import ast
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

from cicd.gate.imports import ImportGraph, repo_files
from cicd.packages.locks import normalize

ROOT = Path(__file__).resolve().parents[1]
# What `make integration-test` runs: the post-step command and the tests it hands to pytest.
ENTRY_POINTS = {
    "cicd/poststeps/__main__.py",
    "tests/conftest.py",
    *(p.relative_to(ROOT).as_posix() for p in (ROOT / "tests" / "external").glob("*.py")),
}
FIRST_PARTY = {
    "cicd",
    "config",
    "platform_vocabulary",
    "pipeline_assets",
    "tests",
    "stacks",
    "constructs",
    "dags",
    "app",
}
# Imported only on the local-substitute paths (no EXTERNAL_* variables), never in staging.
LOCAL_SUBSTITUTES = {"fakesnow", "mockafka"}


def pins(lock: Path) -> dict[str, str]:
    found = {}
    for line in lock.read_text().splitlines():
        if "==" in line and not line.startswith((" ", "#")):
            name, version = line.split(" ")[0].split(";")[0].split("==")
            found[normalize(name.split("[")[0])] = version
    return found


def third_party_imports() -> set[str]:
    files = [f for f in repo_files(ROOT) if not f.startswith("build/")]
    reachable = ImportGraph(ROOT, files).dependencies(ENTRY_POINTS) | ENTRY_POINTS
    modules = set()
    for path in reachable:
        for node in ast.walk(ast.parse((ROOT / path).read_text())):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return {m for m in modules if m not in sys.stdlib_module_names and m not in FIRST_PARTY}


def test_every_module_the_integration_tests_import_is_in_the_integration_lock():
    locked = pins(ROOT / "requirements-integration.lock")
    distributions = packages_distributions()
    missing = {
        module: distributions.get(module)
        for module in sorted(third_party_imports() - LOCAL_SUBSTITUTES)
        if not any(normalize(d) in locked for d in distributions.get(module, [module]))
    }
    assert missing == {}, "add these to requirements-integration.txt and run `make lock`"


def test_the_integration_lock_pins_what_the_dev_lock_pins_with_hashes():
    integration, dev = pins(ROOT / "requirements-integration.lock"), pins(ROOT / "requirements-dev.lock")
    assert {name: (version, dev.get(name)) for name, version in integration.items() if dev.get(name) != version} == {}
    lines = (ROOT / "requirements-integration.lock").read_text().splitlines()
    unhashed = [
        line for line, after in zip(lines, [*lines[1:], ""], strict=True) if "==" in line and "--hash=" not in after
    ]
    assert unhashed == []  # pip install/wheel --require-hashes needs every pin hashed
