"""pyproject.toml's tool settings cover the whole repository, not the packages that existed when they were written."""

from __future__ import annotations

import tomllib


def test_mypy_checks_every_first_party_package(repo_root):
    settings = tomllib.loads((repo_root / "pyproject.toml").read_text())["tool"]["mypy"]
    first_party = {
        path.name
        for path in repo_root.iterdir()
        if path.is_dir() and not path.name.startswith((".", "_")) and any(path.rglob("*.py"))
    } - {"tests", "node_modules", "build", "cdk.out", "dbt_project"}
    first_party |= {path.name for path in repo_root.glob("*.py")}
    missing = sorted(first_party - set(settings["files"]))
    assert not missing, f"add {missing} to [tool.mypy] files in pyproject.toml"
    assert settings["mypy_path"] == "dags"  # the DAG files import `platform_dags`, as on MWAA
