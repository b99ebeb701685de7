"""run_tool: an exit code outside the accepted ones, a missing program or a timeout is a ToolError."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from platform_vocabulary.findings import ToolError
from platform_vocabulary.tools import run_tool


def test_exit_one_is_a_result_for_the_check_to_parse(tmp_path: Path):
    proc = run_tool([sys.executable, "-c", "import sys; print('found'); sys.exit(1)"], cwd=tmp_path)
    assert (proc.returncode, proc.stdout.strip()) == (1, "found")


def test_a_crash_is_a_tool_error_with_the_tail_of_its_output(tmp_path: Path):
    with pytest.raises(ToolError, match=r"exited 3:\nboom"):
        run_tool([sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(3)"], cwd=tmp_path)


def test_a_missing_program_names_the_install_command(tmp_path: Path):
    with pytest.raises(ToolError, match=r"no-such-tool-here is not installed .*make venv"):
        run_tool(["no-such-tool-here"], cwd=tmp_path)


def test_a_tool_that_overruns_its_time_is_a_tool_error(tmp_path: Path):
    with pytest.raises(ToolError, match="did not finish within 0 s"):
        run_tool([sys.executable, "-c", "import time; time.sleep(5)"], cwd=tmp_path, timeout_s=0.2)


def test_the_gate_model_and_the_tools_share_one_finding_and_one_tool_error():
    from cicd.gate.model import Finding as GateFinding
    from cicd.gate.model import ToolError as GateToolError
    from cicd.gate.tools import run_tool as gate_run_tool
    from platform_vocabulary.findings import Finding

    assert (GateFinding, GateToolError, gate_run_tool) == (Finding, ToolError, run_tool)
