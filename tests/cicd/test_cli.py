"""`cicd`: one installed command for everything, fast help, --version, completion, one output convention."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cicd import cli
from cicd.options import ExitCode

ROOT = Path(__file__).resolve().parents[2]
CICD = Path(sys.executable).parent / "cicd"  # installed by `make venv` ([project.scripts] in pyproject.toml)


@pytest.mark.parametrize(
    "argv",
    [
        ["--only", "python-lint", "type-check"],
        ["--only", "python-lint,type-check"],
        ["--only", "python-lint", "--only", "type-check"],
    ],
    ids=["spaces", "commas", "repeated"],
)
def test_only_accepts_spaces_commas_and_repeats(argv):
    args = cli.build_parser().parse_args(["validate", *argv])
    assert [name for names in args.only for name in names] == ["python-lint", "type-check"]


def test_the_cicd_command_is_installed_and_works_from_any_folder():
    for folder in (ROOT / "dags", Path("/")):
        proc = subprocess.run([str(CICD), "--version"], cwd=folder, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("cicd 0.1.0 (commit ") and str(ROOT) in proc.stdout


# Every `python -m` entry point a person runs is a subcommand too (the old spellings still work).
@pytest.mark.parametrize(
    ("argv", "module", "handler"),
    [
        (["packages", "check"], "cicd.packages.cli", "cmd_check"),
        (["packages", "spark-jars", "--record"], "cicd.packages.cli", "cmd_spark_jars"),
        (["packages", "mwaa-wheelhouse"], "cicd.packages.cli", "cmd_mwaa_wheelhouse"),
        (["gate-bench", "--install-toolchain"], "cicd.cli", "cmd_gate_bench"),
        (["dbt", "bench", "--scale", "1", "--scale", "10", "--json"], "cicd.dbt.cli", "cmd_bench"),
        (["release", "rollback-drill", "--pad", "180", "--json"], "cicd.rollback.cli", "cmd_drill"),
        (["release", "activation-bench", "--files", "200"], "cicd.rollback.cli", "cmd_activation_bench"),
        (["streaming", "bench", "--only", "streaming", "--repeat", "1", "--json"], "cicd.streaming.cli", "cmd_bench"),
        (["dags", "bench", "--pipelines", "180", "--json"], "cicd.dags.cli", "cmd_bench"),
        (["completion", "zsh"], "cicd.completion", "cmd_completion"),
    ],
    ids=lambda value: " ".join(value[:2]) if isinstance(value, list) else None,
)
def test_every_entry_point_is_a_subcommand(argv, module, handler):
    import importlib

    args = cli.build_parser().parse_args(argv)
    assert args.handler is getattr(importlib.import_module(module), handler)


def test_help_lists_every_command_with_what_it_does(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: cicd ")
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    for name, action in commands._name_parser_map.items():
        assert name in text
        assert next(c.help for c in commands._choices_actions if c.dest == name), f"{name} has no help"
        assert action.prog.startswith("cicd ")


@pytest.mark.parametrize("group", ["release", "streaming", "dataservice"])
def test_a_group_s_help_names_every_one_of_its_commands(group):
    """`release` once said "release bundles" while `status` lived under it too."""
    commands = next(a for a in cli.build_parser()._actions if a.dest == "command")
    help_text = next(c.help for c in commands._choices_actions if c.dest == group)
    sub = next(a for a in commands.choices[group]._actions if a.dest.endswith("_command"))
    assert all(name in help_text for name in sub.choices), (help_text, list(sub.choices))


def test_help_loads_no_heavy_library():
    """`cicd --help` builds every command's parser; heavy imports belong in the handlers that use them."""
    heavy = ["boto3", "botocore", "pydantic", "rich", "yaml", "sqlglot", "airflow", "pyspark", "numpy", "psutil"]
    heavy += ["config", "cicd.gate.registry", "cicd.rollback.rollback", "pipeline_assets.streaming_control"]
    code = "import sys; from cicd.cli import build_parser; build_parser()\n"
    code += f"print([m for m in {heavy!r} if m in sys.modules])"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def completions(line: str, tmp_path: Path) -> list[str]:
    """What bash gets when <Tab> is pressed after `line` (argcomplete's protocol, as its shell hook speaks it)."""
    out = tmp_path / "completions"
    env = os.environ | {
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_SHELL": "bash",
        "_ARGCOMPLETE_IFS": "\n",
        "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
    }
    subprocess.run([str(CICD)], env=env, capture_output=True, text=True, check=True, timeout=60)
    return sorted(word.strip() for word in out.read_text().splitlines() if word.strip())


def test_tab_completes_commands_environments_checks_and_choices(tmp_path):
    assert completions("cicd da", tmp_path) == ["dags", "data", "dataservice"]
    assert completions("cicd rollback --env ", tmp_path) == ["dev", "prod", "staging"]
    assert completions("cicd validate --only type", tmp_path) == ["type-check"]
    assert completions("cicd dags new orders --source ", tmp_path) == ["kafka", "none", "s3", "snowflake_stage"]
    assert completions("cicd dags new orders --spark-job crm", tmp_path) == ["crm_accounts_batch"]
    assert completions("cicd dags new orders --dbt-selector customer", tmp_path) == ["customer_health"]


def test_completion_prints_the_shell_hook(capsys):
    assert cli.main(["completion", "bash"]) == 0
    hook = capsys.readouterr().out
    assert "complete " in hook and "cicd" in hook


@pytest.mark.parametrize(
    ("only", "changed_since", "changed", "scope"),
    [
        ([], None, None, "all"),
        (["type-check"], None, None, "only type-check and what they need"),
        (["config"], "main", [Path("config/dev.yaml")], "only config and what they need; changed since main (1 files)"),
        ([], "main", [], "changed since main (0 files)"),
    ],
)
def test_the_scope_says_what_chose_the_checks(only, changed_since, changed, scope):
    assert cli.describe_scope(only, changed_since, changed) == scope


def test_validate_list_json_is_the_checks_for_machines(capsys):
    assert cli.main(["validate", "--list", "--json"]) == 0
    checks = json.loads(capsys.readouterr().out)
    assert "type-check" in {c["check"] for c in checks} and all(
        set(c) == {"check", "description", "needs"} for c in checks
    )


def without_aws_credentials(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return env | {
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@pytest.mark.parametrize(
    "argv",
    [
        ["rollback", "--env", "dev"],
        ["release", "status", "--env", "dev"],
        ["audit", "report", "--env", "dev", "--since", "2026-03-01", "--bucket", "evidence"],
        ["streaming", "status", "--env", "dev", "--application-id", "app"],
    ],
    ids=lambda argv: " ".join(argv[:2]),
)
def test_missing_aws_credentials_name_the_profile_option_and_the_variables(tmp_path, argv):
    proc = subprocess.run(
        [str(CICD), *argv], env=without_aws_credentials(tmp_path), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == ExitCode.USAGE, proc.stderr
    assert "no AWS credentials found" in proc.stderr
    assert "pass --profile NAME, or set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in proc.stderr
    assert "refused" not in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == "" or not proc.stdout.strip().startswith("{")


def test_validate_json_keeps_progress_on_stderr_and_the_report_on_stdout(capsys):
    assert cli.main(["validate", "--only", "config", "--no-cache", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["checks"][0]["name"] == "config"
    assert "PASS  config" in captured.err


def test_validate_has_keep_going_and_plan():
    args = cli.build_parser().parse_args(["validate", "--keep-going", "--plan"])
    assert args.keep_going and args.plan


def test_the_version_says_commit_unknown_when_git_is_not_installed(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no git on it
    assert "(commit unknown," in cli.version_text()
