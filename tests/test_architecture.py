"""The import graph keeps its shape: a ground floor, no module loaded by file path, no arrow back up in cicd/.

- platform_vocabulary/ (the words the CDK app, the `cicd` command and the DAG folder share) imports no
  cloud SDK, CDK or Airflow, and nothing of the repository above it: the release ships it to MWAA as
  it is, and the CDK app imports it without Airflow.
- No first-party module is loaded by file path (importlib's spec_from_file_location, SourceFileLoader,
  runpy.run_path, imp.load_source): a module loaded that way has a second identity, escapes the type
  checker's view of the import graph and hides the dependency it is.
- Between the packages of cicd/ the imports form no cycle (an arrow back up): the tools of a folder
  depend on the ground floor, never on the gate that runs them.

Tests are out of scope: they may load a fixture script by path.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GROUND_FLOOR = "platform_vocabulary"
# Cloud SDKs, CDK and Airflow: what MWAA or the CDK app would have to drag in with the ground floor.
FORBIDDEN_BELOW = ("boto3", "botocore", "aioboto3", "aws_cdk", "constructs", "cdk_nag", "jsii", "airflow")
# The repository's own packages above the ground floor.
FIRST_PARTY_ABOVE = ("app", "cicd", "config", "stacks", "dags", "platform_dags", "pipeline_assets", "tests")
LOADS_BY_PATH = {"spec_from_file_location", "SourceFileLoader", "run_path", "load_source", "SourcelessFileLoader"}
SKIPPED = {"tests", "node_modules", "build", "cdk.out", "dbt_project", "__pycache__"}


def python_files(root: Path) -> list[Path]:
    return sorted(
        path
        for path in root.rglob("*.py")
        if not any(part.startswith(".") or part in SKIPPED for part in path.relative_to(root).parts)
    )


def imported_names(tree: ast.AST) -> list[tuple[int, str]]:
    """Every absolute module name an import statement names, with its line."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def ground_floor_violations(root: Path) -> list[str]:
    violations = []
    for path in python_files(root / GROUND_FLOOR) if (root / GROUND_FLOOR).is_dir() else []:
        rel = path.relative_to(root).as_posix()
        for line, name in imported_names(ast.parse(path.read_text())):
            top = name.split(".")[0]
            if top in FORBIDDEN_BELOW:
                violations.append(f"{rel}:{line} imports {name}: the ground floor imports no cloud SDK, CDK or Airflow")
            elif top in FIRST_PARTY_ABOVE:
                violations.append(f"{rel}:{line} imports {name}: the ground floor imports nothing above it")
    return violations


def loads_by_path(root: Path) -> list[str]:
    found = []
    for path in python_files(root):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
                if name in LOADS_BY_PATH:
                    found.append(f"{path.relative_to(root).as_posix()}:{node.lineno} {name}: import the module by name")
    return found


def cicd_package_edges(root: Path) -> dict[str, set[str]]:
    """cicd.<a> -> cicd.<b> for every import between two packages (folders) of cicd/."""
    edges: dict[str, set[str]] = defaultdict(set)
    cicd = root / "cicd"
    for path in python_files(cicd) if cicd.is_dir() else []:
        parts = path.relative_to(root).parts
        if len(parts) < 3:
            continue  # cicd/cli.py and its siblings are the command group, above every package
        source = f"cicd.{parts[1]}"
        for _, name in imported_names(ast.parse(path.read_text())):
            target_parts = name.split(".")
            if target_parts[0] == "cicd" and len(target_parts) > 1 and (cicd / target_parts[1]).is_dir():
                target = f"cicd.{target_parts[1]}"
                if target != source:
                    edges[source].add(target)
    return edges


def arrows_back_up(edges: dict[str, set[str]]) -> list[str]:
    """Every edge that lies on a cycle: a -> b while b reaches a again."""

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            current = todo.pop()
            if current == goal:
                return True
            if current not in seen:
                seen.add(current)
                todo += sorted(edges.get(current, ()))
        return False

    return sorted(f"{a} -> {b}" for a in edges for b in edges[a] if reaches(b, a))


def test_the_ground_floor_imports_no_cloud_sdk_cdk_airflow_or_anything_above_it():
    assert (ROOT / GROUND_FLOOR / "__init__.py").is_file()
    assert ground_floor_violations(ROOT) == []


def test_no_first_party_module_is_loaded_by_file_path():
    assert loads_by_path(ROOT) == []


def test_no_package_of_cicd_imports_back_up_into_a_package_that_imports_it():
    assert arrows_back_up(cicd_package_edges(ROOT)) == []


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.mark.parametrize(
    ("line", "what"),
    [
        ("import boto3", "boto3"),
        ("from aws_cdk import aws_s3", "aws_cdk"),
        ("from airflow.models import DAG", "airflow.models"),
        ("import constructs", "constructs"),
        ("from cicd.gate.model import Check", "cicd.gate.model"),
        ("from stacks.pipeline_registry import load_registry", "stacks.pipeline_registry"),
    ],
)
def test_a_ground_floor_module_importing_a_cloud_sdk_or_a_layer_above_is_named(tmp_path, line, what):
    root = write(tmp_path, {f"{GROUND_FLOOR}/__init__.py": "", f"{GROUND_FLOOR}/words.py": f"import os\n{line}\n"})
    (violation,) = ground_floor_violations(root)
    assert violation.startswith(f"{GROUND_FLOOR}/words.py:2 imports {what}:")


def test_a_ground_floor_importing_pydantic_yaml_and_itself_is_fine(tmp_path):
    root = write(
        tmp_path,
        {
            f"{GROUND_FLOOR}/__init__.py": "",
            f"{GROUND_FLOOR}/words.py": f"import yaml\nfrom pydantic import BaseModel\nfrom {GROUND_FLOOR} import x\n",
        },
    )
    assert ground_floor_violations(root) == []


@pytest.mark.parametrize(
    "code",
    [
        "import importlib.util\nspec = importlib.util.spec_from_file_location('m', 'x.py')\n",
        "from importlib.machinery import SourceFileLoader\nSourceFileLoader('m', 'x.py').load_module()\n",
        "import runpy\nrunpy.run_path('x.py')\n",
        "import imp\nimp.load_source('m', 'x.py')\n",
    ],
)
def test_a_module_loaded_by_file_path_is_named_with_its_line(tmp_path, code):
    root = write(tmp_path, {"stacks/registry.py": code, "tests/test_x.py": code})
    (found,) = loads_by_path(root)
    assert found.startswith("stacks/registry.py:2 ")


def test_an_arrow_back_up_between_cicd_packages_is_reported_and_a_one_way_graph_is_not(tmp_path):
    files = {
        "cicd/gate/__init__.py": "",
        "cicd/gate/checks.py": "from cicd.dbt.build import run\n",
        "cicd/dbt/__init__.py": "",
        "cicd/dbt/build.py": "from platform_vocabulary.findings import Finding\n",
        "cicd/cli.py": "from cicd.gate import checks\n",
    }
    assert arrows_back_up(cicd_package_edges(write(tmp_path, files))) == []
    write(tmp_path, {"cicd/dbt/build.py": "from cicd.gate.model import Finding\n"})
    assert arrows_back_up(cicd_package_edges(tmp_path)) == ["cicd.dbt -> cicd.gate", "cicd.gate -> cicd.dbt"]
