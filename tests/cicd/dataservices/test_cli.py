"""`python -m cicd dataservice ...` through add_parser, as cicd/cli.py wires it."""

import argparse
import json
import shutil

import pytest

from cicd.dataservices import cli

from .conftest import FIXTURES, HEALTH


def run(root, *argv):
    parser = argparse.ArgumentParser(prog="python -m cicd")
    parser.add_argument("--root", default=str(root))
    cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["--root", str(root), *argv])
    return args.handler(args)


@pytest.fixture
def repo(tmp_path):
    shutil.copytree(FIXTURES / "dbt_project", tmp_path / "dbt_project")
    return tmp_path


def test_build_writes_each_bundle(repo, capsys):
    assert run(repo, "dataservice", "build", "--manifest", str(FIXTURES / "manifest.json")) == 0
    out = repo / "build" / "dataservices" / "bundle"
    assert sorted(p.name for p in (out / "customer_health").iterdir()) == [
        "contract.json",
        "glossary.json",
        "metadata.json",
        "service.json",
    ]
    assert "customer_health          -> customer_success: customer_health (9 columns)" in capsys.readouterr().out


def test_validate_prints_findings_and_fails(repo, tmp_path, capsys):
    document = json.loads((FIXTURES / "manifest.json").read_text())
    document["nodes"][HEALTH]["config"]["meta"]["data_service"]["columns"].append("contact_email")
    manifest = tmp_path / "broken.json"
    manifest.write_text(json.dumps(document))

    assert run(repo, "dataservice", "validate", "--manifest", str(manifest)) == 1
    out = capsys.readouterr().out
    assert "ERROR   dbt_project/models/marts/crm/_crm__models.yml:" in out
    assert "[dataservice:column-pii] model customer_health, column contact_email" in out
    assert "data services FAILED: 1 error(s); valid services: product_catalog" in out

    assert run(repo, "dataservice", "validate", "--manifest", str(manifest), "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is False and report["findings"][0]["rule"] == "dataservice:column-pii"


def test_baseline_then_validate_against_it(repo, tmp_path, capsys):
    fixture = str(FIXTURES / "manifest.json")
    assert run(repo, "dataservice", "baseline", "--manifest", fixture) == 0
    assert sorted(p.name for p in (repo / "cicd" / "dataservices" / "baseline").iterdir()) == [
        "customer_health.json",
        "product_catalog.json",
    ]
    document = json.loads((FIXTURES / "manifest.json").read_text())
    document["nodes"][HEALTH]["columns"]["is_at_risk"]["data_type"] = "varchar"
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(document))
    capsys.readouterr()
    assert run(repo, "dataservice", "validate", "--manifest", str(changed)) == 1
    assert "column is_at_risk: type changed from boolean to string" in capsys.readouterr().out


def test_publish_needs_a_release(repo, capsys):
    argv = ["dataservice", "publish", "--env", "dev", "--service", "customer_health"]
    argv += ["--release-bucket", "b", "--secret-name", "s"]
    assert run(repo, *argv) == 2
    assert "give --release-id or --active-release-parameter" in capsys.readouterr().err


def test_publish_rejects_an_unknown_environment(repo):
    with pytest.raises(SystemExit):
        run(
            repo,
            "dataservice",
            "publish",
            "--env",
            "qa",
            "--service",
            "x",
            "--release-bucket",
            "b",
            "--secret-name",
            "s",
        )


def test_publish_runs_the_task_code_with_the_environment_s_region(repo, monkeypatch, capsys):
    """End to end through the CLI: moto for AWS, a DuckDB mart for Snowflake, a stub for the API."""
    import threading
    from contextlib import contextmanager

    import boto3
    import duckdb
    from moto import mock_aws
    from werkzeug.serving import make_server
    from werkzeug.wrappers import Request, Response

    from cicd.dataservices.build import build, bundle_files
    from cicd.dataservices.manifest import load

    calls = []

    @Request.application
    def api(request):
        calls.append((request.method, request.path.rsplit("/", 1)[-1]))
        if request.method == "GET" and request.path.endswith("/status"):
            return Response(json.dumps({"status": "ready"}), content_type="application/json")
        if request.method == "GET":
            return Response(json.dumps({"intents": []}), content_type="application/json")
        return Response(json.dumps({"ok": True}), content_type="application/json")

    server = make_server("127.0.0.1", 0, api, threaded=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    mart = duckdb.connect()
    mart.execute(
        "create table main.customer_health as select 'a1' as account_id, 'Acme' as account_name, 'smb' as segment, "
        "1.0 as health_score, 'watch' as health_band, false as is_at_risk, 0 as open_ticket_count, "
        "null::timestamp as last_activity_at, date '2026-11-27' as snapshot_date"
    )

    @contextmanager
    def cursor(environment, session):
        assert (environment, session.region_name) == ("dev", "eu-west-1")  # region from config/dev.yaml
        yield mart.cursor()

    monkeypatch.setattr(cli, "_snowflake_cursor", cursor)
    try:
        with mock_aws():
            s3 = boto3.client("s3", region_name="eu-west-1")
            s3.create_bucket(Bucket="rel", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
            bundles = build(load(FIXTURES / "manifest.json")).bundles
            for path, data in bundle_files(bundles).items():
                s3.put_object(Bucket="rel", Key=f"releases/r-1/dataservices/{path}", Body=data)
            secret = {
                "base_url": f"http://127.0.0.1:{server.server_port}",
                "api_token": "t",
                "assistants": {"customer_success": "asst-1"},
            }
            boto3.client("secretsmanager", region_name="eu-west-1").create_secret(
                Name="geai", SecretString=json.dumps(secret)
            )
            argv = ["dataservice", "publish", "--env", "dev", "--service", "customer_health", "--release-bucket"]
            code = run(repo, *argv, "rel", "--secret-name", "geai", "--release-id", "r-1", "--json")
    finally:
        server.shutdown()
    assert code == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    result = json.loads(out[out.index('{\n  "service"') :])  # after any log lines a configured handler printed
    assert result["outcome"] == "published" and result["rows"] == {"customer_health": 1}
    assert ("POST", "extend") in calls and ("PUT", "asst-1") in calls
