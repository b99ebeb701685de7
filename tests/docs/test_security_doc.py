"""docs/security.md names a test for every control: each named test must exist, so the table cannot rot."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"
# `tests/x/test_y.py::test_z` or a continuation `::test_z` that refers to the last file named before it.
REFERENCE = re.compile(r"`(?P<file>tests/[\w/]+\.py)?(?:::(?P<test>\w+))?`")


def referenced_tests() -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    for line in DOC.read_text().splitlines():
        last_file: str | None = None
        for match in REFERENCE.finditer(line):
            if match["file"]:
                last_file = match["file"]
            if last_file and (match["file"] or match["test"]):
                found.append((last_file, match["test"]))
    return found


def test_every_control_names_an_existing_test_file_and_function():
    references = referenced_tests()
    assert len(references) >= 20, "docs/security.md should name a test for each of issue 13's controls"
    missing = []
    for file, test in references:
        path = ROOT / file
        if not path.exists():
            missing.append(f"{file} (no such file)")
        elif test and not re.search(rf"^(?:async )?def {test}\(", path.read_text(), re.MULTILINE):
            missing.append(f"{file}::{test} (no such test)")
    assert not missing, "docs/security.md names tests that do not exist:\n" + "\n".join(missing)


def test_every_issue_item_has_a_row():
    numbers = {int(n) for n in re.findall(r"^\| (\d+) \|", DOC.read_text(), re.MULTILINE)}
    assert numbers == set(range(1, 21))


def test_every_issue_17_attack_has_a_row_and_the_threat_model_its_sections():
    text = DOC.read_text()
    attacks = {int(n) for n in re.findall(r"^\| 17\.(\d+) \|", text, re.MULTILINE)}
    assert attacks == set(range(1, 11))
    for section in ("### What runs where", "### Who may write each evidence prefix", "### Residual risks"):
        assert section in text, section


def test_every_item_of_the_second_round_has_a_row():
    items = set(re.findall(r"^\| ([BLR]\d) \|", DOC.read_text(), re.MULTILINE))
    assert items == {"B1", "B2", "L1", "L3", "L4", "L5", "R1", "R2", "R3", "R4", "R5"}
