"""MWAA's requirements.txt and startup script pin exactly what the gate tests locally."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cicd.packages.locks import DBT_LOCK, WHEELHOUSE_LOCK, load_requirements_lock
from config import load_all

ROOT = Path(__file__).resolve().parents[3]
MWAA = ROOT / "pipeline_assets" / "mwaa"
PIN = re.compile(r"^\s*\"?([A-Za-z0-9_.\-\[\]]+)==([^\s\"\\]+)\"?")


def pins(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        match = PIN.match(line.split("#", 1)[0])
        if match:
            found[match[1].lower().split("[")[0]] = match[2]
    return found


def pins_of(path: Path) -> dict[str, str]:
    """A requirements file's pins, with the files it includes (`-r other.txt`)."""
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.startswith("-r "):
            found.update(pins_of(path.parent / line.split(None, 1)[1].strip()))
    return {**found, **pins(path.read_text())}


DEV_PINS = pins_of(ROOT / "requirements-dev.txt")


def test_every_mwaa_requirement_is_pinned_like_the_local_toolchain():
    mwaa = pins((MWAA / "requirements.txt").read_text())
    assert {"apache-airflow-providers-amazon", "apache-airflow-providers-snowflake"} <= set(mwaa)
    for package, version in mwaa.items():
        assert DEV_PINS.get(package) == version, (
            f"pipeline_assets/mwaa/requirements.txt pins {package}=={version} but requirements-dev.txt has "
            f"{DEV_PINS.get(package)}: change both together"
        )


def test_every_third_party_module_the_dag_folder_imports_is_in_mwaas_requirements():
    """MWAA parses the DAG folder with its image plus requirements.txt: an undeclared import fails every DAG."""
    import ast
    import sys

    from cicd.release.parts import all_parts

    folder_modules, imported = set(), set()
    for rel, data in all_parts()["dags"](ROOT):
        if rel.endswith(".py"):
            folder_modules.add(rel.split("/")[0].removesuffix(".py"))
            for node in ast.walk(ast.parse(data)):
                if isinstance(node, ast.Import):
                    imported.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    imported.add(node.module.split(".")[0])
    third_party = imported - folder_modules - set(sys.stdlib_module_names) - {"__future__"}
    locked = set(load_requirements_lock(ROOT, WHEELHOUSE_LOCK))
    distribution = {"yaml": "pyyaml", "airflow": "apache-airflow", "snowflake": "snowflake-connector-python"}
    # Imported lazily by modules that only the rehearsal's worker or EMR runs (never while a DAG parses or a
    # task of MWAA runs): the embedded warehouse's client.
    not_on_mwaa = {"duckdb"}
    missing = sorted(m for m in third_party - not_on_mwaa if distribution.get(m, m).replace("_", "-") not in locked)
    assert not missing, f"the DAG folder imports {missing}, which pipeline_assets/mwaa/wheelhouse.lock lacks"


def test_the_wheelhouse_holds_airflow_at_the_version_of_every_environment():
    text = (MWAA / "requirements.txt").read_text()
    assert "--constraint /usr/local/airflow/plugins/constraints.txt" in text
    assert "://" not in text  # MWAA runs without internet: nothing is fetched from a URL
    airflow = load_requirements_lock(ROOT, WHEELHOUSE_LOCK)["apache-airflow"].version
    assert airflow == DEV_PINS["apache-airflow"]
    for env in load_all().environments:
        assert env.orchestration.airflow_version == airflow, f"config/{env.name}.yaml airflow_version"


def test_the_mwaa_locks_use_the_local_toolchain_pins():
    for lock in (WHEELHOUSE_LOCK, DBT_LOCK):
        for name, wheel in load_requirements_lock(ROOT, lock).items():
            if name in DEV_PINS:
                assert wheel.version == DEV_PINS[name], f"{lock} pins {name}=={wheel.version}: run `make mwaa-lock`"


def test_the_startup_script_installs_dbt_from_the_locked_wheels():
    script = (MWAA / "startup.sh").read_text()
    dbt = load_requirements_lock(ROOT, DBT_LOCK)
    assert (dbt["dbt-core"].version, dbt["dbt-snowflake"].version) == (DEV_PINS["dbt-core"], DEV_PINS["dbt-snowflake"])
    assert "--no-index" in script and "--require-hashes" in script
    assert "export DBT_EXECUTABLE=" in script


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_the_startup_script_is_valid_shell(shell):
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} not installed")
    subprocess.run([shell, "-n", str(MWAA / "startup.sh")], check=True)
