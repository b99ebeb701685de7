"""The options every `python -m cicd` command shares: --env from config/, --root, exit codes, tables."""

from __future__ import annotations

import io

import pytest

from cicd import cli
from cicd.options import ExitCode, environment_names, print_table


def test_environments_come_from_config_in_promotion_order(tmp_path):
    for name in ("prod", "qa", "dev", "delivery", "staging"):
        (tmp_path / f"{name}.yaml").write_text("name: x\n")
    assert environment_names(tmp_path) == ("dev", "staging", "prod", "qa")
    assert environment_names() == ("dev", "staging", "prod")  # the repository's config/


@pytest.mark.parametrize(
    "argv",
    [
        ["audit", "report", "--env", "qa", "--since", "2026-01-01"],
        ["dataservice", "publish", "--env", "qa"],
        ["poststep", "canaries", "--env", "qa"],
        ["streaming", "status", "--env", "qa"],
        ["rollback", "--env", "qa"],
        ["release", "status", "--env", "qa"],
    ],
    ids=lambda argv: " ".join(argv[:2]),
)
def test_a_bad_env_is_a_usage_error_that_lists_the_choices_and_the_fix(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == ExitCode.USAGE
    error = capsys.readouterr().err
    assert "argument --env: 'qa' is not an environment of config/ (choose from dev, staging, prod)" in error
    assert "add config/qa.yaml" in error


def test_help_shows_the_environments(capsys):
    with pytest.raises(SystemExit):
        cli.main(["audit", "report", "--help"])
    assert "--env {dev,staging,prod}" in capsys.readouterr().out


def test_a_default_env_is_optional():
    parser = cli.build_parser()
    review = ["--bucket", "b", "--pipeline", "p", "--execution-id", "e", "--decision", "accepted", "--comment", "c"]
    args = parser.parse_args(["audit", "review", *review])
    assert args.env == "prod"


def test_root_is_shared_by_every_command(tmp_path):
    args = cli.build_parser().parse_args(["--root", str(tmp_path), "dags", "check"])
    assert args.root == str(tmp_path)


def test_tables_are_plain_and_wide_when_piped():
    out = io.StringIO()
    long_path = "/" + "x" * 150
    print_table(("table", "rows"), [("crm.accounts", "1,000"), ("total", "1,000"), (long_path, "1")], right=("rows",),
                file=out)  # fmt: skip
    text = out.getvalue()
    assert "\x1b[" not in text  # no colour codes in logs
    assert long_path in text  # not folded at 80 columns
    assert text.splitlines()[0].split() == ["table", "rows"]
