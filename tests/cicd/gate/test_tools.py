"""Running the gate's tools: missing tools and crashes are errors, and Python tools keep their bytecode."""

import json
import sys

import pytest

from cicd.gate.model import ToolError
from cicd.gate.tools import BYTECODE_CACHE, run_tool

SHOW_BYTECODE_SETTINGS = "import json, sys; print(json.dumps([sys.dont_write_bytecode, sys.pycache_prefix]))"


def test_python_tools_write_bytecode_under_build_even_when_the_caller_forbids_it(tmp_path, monkeypatch):
    """uv installs no .pyc files: a tool that may not write them compiles aws_cdk from source on every run."""
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    proc = run_tool([sys.executable, "-c", SHOW_BYTECODE_SETTINGS], cwd=tmp_path)
    assert json.loads(proc.stdout) == [False, str(tmp_path.resolve() / BYTECODE_CACHE)]


def test_the_next_run_reads_the_bytecode_the_first_one_wrote(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    (tmp_path / "generated_module.py").write_text("VALUE = 42\n")
    command = [sys.executable, "-c", "import generated_module; print(generated_module.__cached__)"]
    first = run_tool(command, cwd=tmp_path, env={"PYTHONPATH": str(tmp_path)}).stdout.strip()
    assert first.startswith(str(tmp_path.resolve() / BYTECODE_CACHE)) and first.endswith(".pyc")
    [pyc] = list((tmp_path / BYTECODE_CACHE).rglob("generated_module.*.pyc"))
    assert not (tmp_path / "__pycache__").exists()  # nothing written into the source tree
    written = pyc.stat().st_mtime_ns
    run_tool(command, cwd=tmp_path, env={"PYTHONPATH": str(tmp_path)})
    assert pyc.stat().st_mtime_ns == written  # read, not compiled again


def test_a_prefix_the_caller_chose_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPYCACHEPREFIX", str(tmp_path / "mine"))
    proc = run_tool([sys.executable, "-c", SHOW_BYTECODE_SETTINGS], cwd=tmp_path)
    assert json.loads(proc.stdout)[1] == str(tmp_path / "mine")


def test_a_tool_that_crashes_is_an_error_with_its_output(tmp_path):
    with pytest.raises(ToolError, match=r"python.* exited 3:\nboom"):
        run_tool([sys.executable, "-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"], cwd=tmp_path)
