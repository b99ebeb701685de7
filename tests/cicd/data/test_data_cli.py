import argparse
import json

from cicd.data import cli


def parse(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", default=".")
    cli.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_generate_writes_where_asked_and_reports_json(tmp_path, capsys):
    args = parse(["--root", str(tmp_path), "data", "generate", "--scale", "1", "--seed", "3", "--json", "--out",
                  str(tmp_path / "out")])  # fmt: skip
    assert args.handler(args) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["rows"] > 9_000
    assert (tmp_path / "out" / "operations" / "events.parquet").exists()
    assert set(payload["tables"]) == {
        "crm.accounts", "crm.contacts", "crm.opportunities", "product.products", "product.product_prices",
        "operations.events",
    }  # fmt: skip


def test_invalid_scale_is_a_usage_error(tmp_path, capsys):
    args = parse(["--root", str(tmp_path), "data", "generate", "--scale", "0"])
    assert args.handler(args) == 2
    assert "positive" in capsys.readouterr().err  # errors go to stderr, the result stream stays clean
