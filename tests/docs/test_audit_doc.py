"""docs/audit.md says which flags the fixture ledger shows, and that is what the report on it shows."""

from __future__ import annotations

import json
import re
from pathlib import Path

from cicd import cli
from cicd.audit.changes import RULES

ROOT = Path(__file__).resolve().parents[2]


def test_the_doc_names_exactly_the_flags_the_fixture_ledger_shows(capsys):
    argv = ["audit", "report", "--env", "prod", "--since", "2026-03-01", "--until", "2026-03-31"]
    cli.main([*argv, "--ledger-dir", str(ROOT / "tests/fixtures/ledger"), "--json"])
    shown = set(json.loads(capsys.readouterr().out)["report"]["flag_counts"])
    paragraph = (ROOT / "docs/audit.md").read_text().split("- The fixture ledger", 1)[1].split("\n- ", 1)[0]
    named = set(re.findall(r"`([a-z-]+)`", re.split(r";\s+its", paragraph)[0])) & set(RULES)
    assert named == shown
    assert (len(shown), len(RULES)) == (6, 8)  # "six of the eight" in the doc
