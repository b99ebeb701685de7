"""docs/architecture.md stands on its own and its data-path diagram names every check the gate runs."""

from __future__ import annotations

import re
from pathlib import Path

from cicd.gate.registry import all_checks

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"


def test_the_diagram_names_every_gate_check():
    diagram = DOC.read_text().split("## Data path of a change", 1)[1].split("```")[1]
    missing = [check.name for check in all_checks() if not re.search(rf"(?<![\w-]){check.name}(?![\w-])", diagram)]
    assert not missing, f"add {missing} to the data-path diagram of docs/architecture.md"


def test_every_relative_link_stays_inside_the_repository():
    for path in [DOC, *sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]:
        for target in re.findall(r"`(\.\./[^`]+)`|\]\((\.\./[^)]+)\)", path.read_text()):
            linked = next(t for t in target if t)
            resolved = (path.parent / linked).resolve()
            assert resolved.is_relative_to(ROOT) and resolved.exists(), f"{path.name} links {linked}"
