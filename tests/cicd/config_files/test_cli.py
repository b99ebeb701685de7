"""`cicd config check`: what the gate's config check sees, with rule ids and fixes, from any folder."""

import json
from pathlib import Path

from cicd import cli

ROOT = Path(__file__).resolve().parents[3]


def test_the_committed_config_passes(capsys):
    assert cli.main(["config", "check"]) == 0
    assert capsys.readouterr().out == "config passed: delivery and dev, staging, prod\n"


def test_problems_name_file_line_rule_and_fix(tmp_path, capsys):
    config = tmp_path / "config"
    config.mkdir()
    for path in (ROOT / "config").glob("*.yaml"):
        text = path.read_text()
        (config / path.name).write_text(
            text.replace("min_workers:", "min_wrokers:") if path.name == "dev.yaml" else text
        )
    assert cli.main(["--root", str(tmp_path), "config", "check"]) == 1
    out = capsys.readouterr().out
    lines = (config / "dev.yaml").read_text().splitlines()
    typo = next(n for n, text in enumerate(lines, 1) if "min_wrokers" in text)
    section = lines.index("orchestration:") + 1
    assert (
        f"dev.yaml:{typo}: [config:unknown-field] orchestration.min_wrokers: unknown setting `min_wrokers` "
        "in `orchestration`; did you mean `min_workers`?\n    fix: rename it to `min_workers`\n"
    ) in out
    assert (
        f"dev.yaml:{section}: [config:missing-field] orchestration.min_workers: required setting `min_workers` "
        f"is missing from `orchestration`\n    fix: add `min_workers:` under `orchestration:` (line {section})\n"
    ) in out
    assert cli.main(["--root", str(tmp_path), "config", "check", "--json"]) == 1
    problems = json.loads(capsys.readouterr().out)["problems"]
    assert sorted((p["rule"], p["line"]) for p in problems) == [("missing-field", section), ("unknown-field", typo)]
