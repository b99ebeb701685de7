import argparse
import json
import shutil
from pathlib import Path

import pytest

from cicd.dbt import cli

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "dbt" / "compat"


def run(argv, root: Path) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", default=".")
    cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["--root", str(root), *argv])
    return args.handler(args)


def test_wap_dry_run_prints_write_build_and_publish(tmp_path, capsys):
    code = run(["dbt", "wap", "--target", "prod", "--selector", "customer_health", "--release-id", "r-9f",
                "--database", "ANALYTICS", "--reader-role", "GEAI_READER", "--dry-run"], tmp_path)  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    lines = [line for line in out.splitlines() if line]
    assert lines[0].startswith("create or replace schema analytics.analytics_marts__r_9f__customer_health clone")
    assert lines[1].startswith("-- dbt build --target prod --selector customer_health")
    assert "alter schema analytics.analytics_marts__r_9f__customer_health swap with analytics.analytics_marts;" in lines


def test_wap_rollback_dry_run(tmp_path, capsys):
    run(["dbt", "wap", "--target", "prod", "--selector", "x", "--release-id", "r-1", "--database", "A", "--rollback",
         "--dry-run"], tmp_path)  # fmt: skip
    assert capsys.readouterr().out.startswith("alter schema a.analytics_marts__previous swap with a.analytics_marts;")


def test_wap_rejects_unsafe_identifiers(tmp_path, capsys):
    code = run(["dbt", "wap", "--target", "prod", "--selector", "x", "--release-id", "r-1", "--database", "a b",
                "--dry-run"], tmp_path)  # fmt: skip
    assert code == 2
    assert "not a plain Snowflake identifier" in capsys.readouterr().err


def test_compat_exit_codes(tmp_path, capsys):
    (tmp_path / "dbt_project" / "baseline").mkdir(parents=True)
    shutil.copy(FIXTURES / "baseline.json", tmp_path / "dbt_project" / "baseline" / "manifest.json")
    assert run(["dbt", "compat", "--manifest", str(FIXTURES / "additive.json")], tmp_path) == 0
    assert run(["dbt", "compat", "--manifest", str(FIXTURES / "type_changed.json")], tmp_path) == 1
    assert "[dbt-compat:type-changed] customer_health.health_score" in capsys.readouterr().out


def test_baseline_from_a_released_manifest_file(tmp_path, capsys):
    out = tmp_path / "fetched.json"
    assert run(["dbt", "baseline", "--from", str(FIXTURES / "baseline.json"), "--out", str(out)], tmp_path) == 0
    assert out.exists() and "baseline written" in capsys.readouterr().out


def test_mask_dry_run_prints_the_copy_sql(tmp_path, capsys):
    import json

    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"sources": {"s": {
        "unique_id": "source.p.crm.contacts", "source_name": "crm", "name": "contacts", "schema": "raw_crm",
        "columns": {"id": {"name": "id"}, "email": {"name": "email", "meta": {"pii": True, "masking": "email"}}},
    }}}))  # fmt: skip
    code = run(["dbt", "mask", "--manifest", str(manifest), "--dry-run"], tmp_path)
    out = capsys.readouterr().out
    assert code == 0
    assert "create or replace table raw_masked.raw_crm.contacts as" in out
    assert "@masked.invalid" in out and "from raw.raw_crm.contacts" in out


def test_mask_without_a_key_names_the_variable_and_the_fix(tmp_path, capsys, monkeypatch):
    import json

    monkeypatch.delenv("STAGING_MASKING_KEY", raising=False)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"sources": {}}))
    assert run(["dbt", "mask", "--manifest", str(manifest)], tmp_path) == 1
    err = capsys.readouterr().err
    assert "$STAGING_MASKING_KEY is not set: there is no default masking key" in err and "token_hex(32)" in err


@pytest.mark.slow
def test_build_shows_dbt_s_per_model_lines_on_a_terminal_and_keeps_stdout_json(tmp_path, monkeypatch, capsys):
    from cicd import options

    repo = Path(__file__).resolve().parents[3]
    shutil.copytree(repo / "dbt_project", tmp_path / "dbt_project", ignore=shutil.ignore_patterns("target", "logs"))
    monkeypatch.setattr(options, "is_terminal", lambda stream: True)  # a person watching
    assert run(["dbt", "build", "--select", "stg_crm__accounts", "--json"], tmp_path) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)  # stdout is the result alone
    assert result["passed"] and result["nodes"] >= 1
    assert "START sql view model" in err and "stg_crm__accounts" in err and "OK created sql view model" in err

    monkeypatch.setattr(options, "is_terminal", lambda stream: False)  # CI logs, pipes
    assert run(["dbt", "build", "--select", "stg_crm__accounts"], tmp_path) == 0
    out, err = capsys.readouterr()
    assert err == "" and out.startswith("passed: ")


def _git_repo(root: Path) -> None:
    import subprocess

    for args in (["init", "-q", "-b", "main"], ["config", "user.email", "t@example.com"], ["config", "user.name", "t"]):
        subprocess.run(["git", *args], cwd=root, check=True)
    (root / "README.md").write_text("x\n")
    subprocess.run(["git", "add", "."], cwd=root, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "init"], cwd=root, check=True)


def test_diff_with_an_unknown_base_names_the_ref_and_exits_2(tmp_path, capsys):
    _git_repo(tmp_path)
    assert run(["dbt", "diff", "--base", "no-such-branch"], tmp_path) == 2
    err = capsys.readouterr().err
    assert "dbt diff: git merge-base no-such-branch HEAD failed" in err


def test_diff_bench_refuses_an_unknown_mutation(tmp_path, capsys):
    assert run(["dbt", "diff-bench", "--only", "no-such-mutation"], tmp_path) == 2
    assert "unknown mutation(s): no-such-mutation" in capsys.readouterr().err
