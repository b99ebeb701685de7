"""MWAA's requirements.txt and startup script pin exactly what the gate tests locally."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

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


DEV_PINS = pins((ROOT / "requirements-dev.txt").read_text())


def test_every_mwaa_requirement_is_pinned_like_the_local_toolchain():
    mwaa = pins((MWAA / "requirements.txt").read_text())
    assert {"apache-airflow-providers-amazon", "apache-airflow-providers-snowflake"} <= set(mwaa)
    for package, version in mwaa.items():
        assert DEV_PINS.get(package) == version, (
            f"pipeline_assets/mwaa/requirements.txt pins {package}=={version} but requirements-dev.txt has "
            f"{DEV_PINS.get(package)}: change both together"
        )


def test_the_constraints_file_matches_the_airflow_version_of_every_environment():
    text = (MWAA / "requirements.txt").read_text()
    constraint = re.search(r"constraints-(\d+\.\d+\.\d+)/constraints-(3\.\d+)\.txt", text)
    assert constraint, "requirements.txt must install under Airflow's constraints file"
    assert constraint[1] == DEV_PINS["apache-airflow"]
    for env in load_all().environments:
        assert env.orchestration.airflow_version == constraint[1], f"config/{env.name}.yaml airflow_version"
    assert constraint[2] == "3.11"  # MWAA's Python for Airflow 2.10


def test_the_startup_script_installs_dbt_with_the_local_pins():
    script = (MWAA / "startup.sh").read_text()
    installed = pins("\n".join(line.strip() for line in script.splitlines()))
    assert installed == {"dbt-core": DEV_PINS["dbt-core"], "dbt-snowflake": DEV_PINS["dbt-snowflake"]}
    assert "export DBT_EXECUTABLE=" in script


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_the_startup_script_is_valid_shell(shell):
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} not installed")
    subprocess.run([shell, "-n", str(MWAA / "startup.sh")], check=True)
