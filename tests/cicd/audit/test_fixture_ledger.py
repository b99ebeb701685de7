"""The committed fixture ledger is exactly what the production writers produce from the scenarios."""

import importlib.util
from pathlib import Path

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "ledger"


def test_fixture_ledger_is_rebuilt_byte_for_byte_by_the_writers(tmp_path):
    spec = importlib.util.spec_from_file_location("build_fixture_ledger", FIXTURE / "build_fixture_ledger.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    keys = module.build(tmp_path)

    committed = sorted(p.relative_to(FIXTURE).as_posix() for p in (FIXTURE / "ledger").rglob("*.json"))
    assert keys == committed, "regenerate with: .venv/bin/python tests/fixtures/ledger/build_fixture_ledger.py"
    for key in keys:
        assert (tmp_path / key).read_bytes() == (FIXTURE / key).read_bytes(), key
