"""The view of MWAA's packages the DAG probe imports from: the lock's distributions, nothing else of the gate's."""

import importlib.metadata
from pathlib import Path

import pytest

from cicd.dags.mwaa_environment import (
    MWAA_LOCK,
    build_view,
    modules_outside,
    mwaa_distributions,
    normalise,
    top_level_names,
)
from cicd.gate.model import ToolError


def install(site: Path, name: str, files: dict[str, str]) -> None:
    """A distribution as an installer leaves it: its files, and a dist-info with METADATA and RECORD."""
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    for rel, text in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text)
    record = [*files, f"{info.name}/METADATA", f"{info.name}/RECORD", "../../../bin/tool"]
    (info / "RECORD").write_text("".join(f"{path},,\n" for path in record))


@pytest.fixture
def site(tmp_path):
    site = tmp_path / "site-packages"
    install(site, "Allowed_Pkg", {"allowed_pkg/__init__.py": "", "allowed_pkg/core.py": "X = 1\n"})
    install(site, "single", {"single.py": "Y = 2\n"})
    install(site, "gate-only", {"gate_only/__init__.py": "", "gate_only.pth": "/work/checkout\n"})
    # A namespace folder two distributions install into, one of them MWAA lacks.
    install(site, "ns-shared", {"ns/shared/__init__.py": ""})
    install(site, "ns-gate", {"ns/gate/__init__.py": ""})
    return site


def test_the_view_holds_only_the_distributions_mwaa_has_with_their_metadata(site, tmp_path):
    view = tmp_path / "view"
    left_out = build_view(site, frozenset({"allowed-pkg", "single", "ns-shared"}), view)
    assert (view / "allowed_pkg" / "core.py").read_text() == "X = 1\n"
    assert (view / "single.py").is_file()
    assert (view / "ns" / "shared" / "__init__.py").is_file()
    assert not (view / "ns" / "gate").exists()  # rebuilt from the allowed distribution's files alone
    assert not (view / "gate_only").exists() and not (view / "gate_only.pth").exists()
    assert left_out == ["gate_only"]
    # What Airflow asks before an optional import: a left-out distribution has no version here.
    names = {normalise(d.metadata["Name"]) for d in importlib.metadata.distributions(path=[str(view)])}
    assert names == {"allowed-pkg", "single", "ns-shared"}


def test_the_dag_folders_own_names_and_the_standard_library_are_never_reported_as_missing():
    assert modules_outside({"platform_dags"}, ["platform_dags", "json", "pyspark"]) == ["pyspark"]


def test_the_top_level_names_of_a_dag_folder(tmp_path):
    (tmp_path / "platform_dags").mkdir()
    (tmp_path / "crm_accounts.py").write_text("")
    assert top_level_names(tmp_path) == {"platform_dags", "crm_accounts"}


def test_the_lock_names_what_mwaa_has_in_pep_503_form(tmp_path):
    (tmp_path / MWAA_LOCK).parent.mkdir(parents=True)
    lock = "Typing_Extensions==4.15.0 \\\n    --hash=sha256:00\n    # via x\npydantic==2.11.7\n"
    (tmp_path / MWAA_LOCK).write_text(lock)
    assert mwaa_distributions(tmp_path) == {"typing-extensions", "pydantic"}


def test_a_missing_or_empty_lock_is_an_error_naming_the_file_and_the_fix(tmp_path):
    with pytest.raises(ToolError, match=r"pipeline_assets/mwaa/wheelhouse.lock: cannot read it .*make mwaa-lock"):
        mwaa_distributions(tmp_path)
    (tmp_path / MWAA_LOCK).parent.mkdir(parents=True)
    (tmp_path / MWAA_LOCK).write_text("# nothing pinned\n")
    with pytest.raises(ToolError, match=r"wheelhouse.lock pins no package .*make mwaa-lock"):
        mwaa_distributions(tmp_path)


def test_the_repositorys_lock_gives_mwaa_the_spec_loaders_packages_and_not_the_gates():
    """The DAG folder's spec loader validates with pydantic; pyspark, dbt and the CDK never reach MWAA."""
    have = mwaa_distributions(Path(__file__).resolve().parents[3])
    assert {"apache-airflow", "pydantic", "pyyaml", "croniter", "pendulum"} <= have
    assert not {"pyspark", "dbt-core", "aws-cdk-lib", "pytest"} & have
