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


def test_a_step_is_silent_off_a_terminal(capsys):
    from cicd.options import step

    with step("dbt build") as show:
        show("1 of 3 START sql view model main.stg_crm__accounts ... [RUN]")
    assert capsys.readouterr() == ("", "")


def test_a_step_on_a_terminal_shows_the_tool_s_lines_and_its_time_on_stderr(monkeypatch, capsys):
    from cicd import options

    monkeypatch.setattr(options, "is_terminal", lambda stream: True)
    with options.step("dbt build") as show:
        show("1 of 3 START sql view model main.stg_crm__accounts ... [RUN]")  # [RUN] is no rich markup
    out, err = capsys.readouterr()
    assert out == ""  # stdout stays the result's, even under --json
    assert "1 of 3 START sql view model main.stg_crm__accounts ... [RUN]" in err
    assert "dbt build: " in err and "s" in err.rsplit("dbt build: ", 1)[1]


def test_no_colour_codes_when_piped_or_with_no_color(monkeypatch):
    from cicd import options

    piped = io.StringIO()
    options.console(piped).print("[bold]x[/bold]")
    assert piped.getvalue() == "x\n"
    monkeypatch.setattr(options, "is_terminal", lambda stream: True)
    monkeypatch.setenv("NO_COLOR", "1")
    terminal = io.StringIO()
    options.console(terminal).print("[bold red]x[/bold red]")
    assert "\x1b[31m" not in terminal.getvalue()


def test_a_credentials_error_inside_a_refusal_is_named_as_what_it_is():
    from botocore.exceptions import NoCredentialsError

    from cicd.options import credentials_problem
    from cicd.rollback.rollback import RollbackRefusedError

    try:
        try:
            raise NoCredentialsError()
        except NoCredentialsError as exc:
            raise RollbackRefusedError(f"cannot read stack Prod-Storage: {exc}") from exc
    except RollbackRefusedError as refused:
        problem = credentials_problem(refused)
    assert problem is not None and problem.startswith("no AWS credentials found")
    assert "--profile NAME" in problem and "AWS_ACCESS_KEY_ID" in problem
    assert credentials_problem(RollbackRefusedError("r-1 is already active")) is None
    assert "--profile" not in (credentials_problem(NoCredentialsError(), has_profile_option=False) or "")


def test_table_cells_are_shown_as_written_not_read_as_markup():
    out = io.StringIO()
    print_table(("step", "detail"), [("dbt", "[OK in 0.05s] [bold]x[/bold]")], file=out)
    assert "[OK in 0.05s] [bold]x[/bold]" in out.getvalue()
