"""pyproject.toml's tool settings cover the whole repository, not the packages that existed when they were written."""

from __future__ import annotations

import tomllib

import pytest


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


@pytest.mark.slow  # loads aws-cdk-lib's jsii runtime: 10 s idle, a minute on a busy machine
def test_npx_cdk_outside_make_shows_no_node_end_of_life_banner(repo_root):
    """`npx cdk` runs `app.py` (cdk.json) without make's environment; jsii must stay quiet there too."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"}
    code = "import app, aws_cdk; aws_cdk.App()"  # importing app.py loads aws_cdk the way `cdk synth` does
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=repo_root, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "end-of-life" not in proc.stderr + proc.stdout
