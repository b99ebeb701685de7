"""The run-time package ships to the Airflow workers: it may import only what the MWAA image has."""

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "pipeline_assets" / "dataservices"
# Third-party modules the MWAA Airflow image provides (Airflow's own dependencies and providers).
ALLOWED_THIRD_PARTY = {"airflow", "boto3", "botocore", "jsonschema", "pydantic", "requests", "tenacity", "urllib3"}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("module", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_imports_only_the_standard_library_itself_and_the_mwaa_image(module):
    roots = imported_roots(module) - {"__future__", "pipeline_assets"}
    foreign = sorted(r for r in roots if r not in sys.stdlib_module_names and r not in ALLOWED_THIRD_PARTY)
    assert foreign == [], f"{module.name} imports {foreign}; the workers do not have them (never import cicd here)"


def test_the_schema_ships_inside_the_package():
    assert (PACKAGE / "schema" / "metadata.schema.json").is_file()


def test_the_retry_libraries_the_client_uses_are_pinned_in_the_wheelhouse_the_workers_install_from():
    lock = (PACKAGE.parent / "mwaa" / "wheelhouse.lock").read_text()
    for distribution in ("tenacity", "urllib3", "requests"):
        assert f"\n{distribution}==" in lock, f"{distribution} is not in pipeline_assets/mwaa/wheelhouse.lock"
