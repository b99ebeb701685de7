"""`cicd audit ...` wiring: options, output and exit codes."""

import argparse
import json
from pathlib import Path

import pytest

from cicd.audit.cli import add_parser

LEDGER = Path(__file__).resolve().parents[2] / "fixtures" / "ledger"
REPORT = ["audit", "report", "--env", "prod", "--since", "2026-03-01", "--until", "2026-03-31"]


def run(argv):
    parser = argparse.ArgumentParser(prog="python -m cicd")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


def test_report_from_a_local_ledger_as_json(capsys):
    assert run([*REPORT, "--ledger-dir", str(LEDGER), "--json"]) == 1  # the fixture ledger has failed controls
    out = capsys.readouterr()
    data = json.loads(out.out)  # stdout is the JSON alone; the verdict is on stderr
    assert data["report"]["account"] == "444444444444"  # taken from config/prod.yaml
    assert data["report"]["population"] == 11
    assert "audit report: 5 of 11 change(s) shown have a failed control" in out.err


def test_format_json_still_works_and_says_it_is_deprecated(capsys):
    assert run([*REPORT, "--ledger-dir", str(LEDGER), "--format", "json"]) == 1
    out = capsys.readouterr()
    assert json.loads(out.out)["report"]["population"] == 11
    assert "--format is deprecated; use --json" in out.err


def test_failing_controls_exit_1_without_strict_and_a_clean_period_exits_0(capsys):
    assert run([*REPORT, "--ledger-dir", str(LEDGER), "--csv"]) == 1
    assert capsys.readouterr().out.startswith("change_id,")
    quiet = ["audit", "report", "--env", "prod", "--since", "2026-03-02", "--until", "2026-03-02"]
    assert run([*quiet, "--ledger-dir", str(LEDGER)]) == 0  # S1 only: no failed control
    assert run([*quiet, "--ledger-dir", str(LEDGER), "--strict"]) == 0  # the old flag still parses


def test_markdown_is_laid_out_for_a_terminal_and_raw_when_piped(monkeypatch, capsys):
    quiet = ["audit", "report", "--env", "prod", "--since", "2026-03-02", "--until", "2026-03-02"]
    assert run([*quiet, "--ledger-dir", str(LEDGER)]) == 0
    piped = capsys.readouterr().out
    assert "|---|" in piped  # Markdown for a file or another tool
    monkeypatch.setattr("cicd.audit.cli.is_terminal", lambda stream: True)
    monkeypatch.setenv("COLUMNS", "120")
    assert run([*quiet, "--ledger-dir", str(LEDGER)]) == 0
    shown = capsys.readouterr().out
    assert "|---|" not in shown and "Change evidence report: prod" in shown
    assert "─" in shown or "━" in shown  # rich drew the tables


def test_sample_and_output_file(tmp_path, capsys):
    out = tmp_path / "sample.md"
    argv = [*REPORT, "--ledger-dir", str(LEDGER), "--sample", "3", "--seed", "11", "--output", str(out)]
    assert run(argv) == 1  # 2 of the 3 drawn have a failed control
    assert capsys.readouterr().out.startswith(f"wrote {out}: 3 changes")
    assert "--sample 3 --seed 11" in out.read_text()


def test_report_needs_a_ledger_location(capsys, monkeypatch):
    monkeypatch.delenv("EVIDENCE_BUCKET", raising=False)
    assert run(REPORT) == 2
    assert "give --bucket (or EVIDENCE_BUCKET) or --ledger-dir" in capsys.readouterr().err


def test_unreadable_ledger_exits_2(tmp_path, capsys):
    assert run([*REPORT, "--ledger-dir", str(tmp_path)]) == 2
    assert "holds no ledger" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["audit", "report", "--env", "prod", "--since", "March"], "'March' is not a date (YYYY-MM-DD)"),
        (["audit", "report", "--env", "qa", "--since", "2026-03-01"], "'qa' is not an environment of config/"),
        ([*REPORT, "--sample", "0"], "'0' must be a whole number >= 1"),
        ([*REPORT, "--bucket", "b", "--ledger-dir", "d"], "not allowed with argument"),
    ],
)
def test_bad_options_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        run(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_a_tampered_ledger_fails_the_report_even_without_strict(monkeypatch, capsys):
    import boto3
    from moto import mock_aws

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(
            Bucket="evidence-bucket",
            CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
            ObjectLockEnabledForBucket=True,
        )
        paths = sorted((LEDGER / "ledger").rglob("*.json"))
        for path in paths:
            s3.put_object(Bucket="evidence-bucket", Key=path.relative_to(LEDGER).as_posix(), Body=path.read_bytes())
        quiet = ["audit", "report", "--env", "prod", "--since", "2026-03-02", "--until", "2026-03-02"]
        assert run([*quiet, "--bucket", "evidence-bucket"]) == 0
        forged = next(p for p in paths if "dt=2026-03-02" in p.as_posix())
        key = forged.relative_to(LEDGER).as_posix()
        # Even the same bytes again are a second version: nothing may be written twice.
        s3.put_object(Bucket="evidence-bucket", Key=key, Body=forged.read_bytes())
        capsys.readouterr()

        assert run([*quiet, "--bucket", "evidence-bucket"]) == 1

    err = capsys.readouterr().err
    assert "TAMPERING: 1 ledger record(s) have more than one version" in err and key in err
