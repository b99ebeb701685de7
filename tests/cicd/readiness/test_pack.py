"""The pack: its rule list, and suppressions that need a reason to suppress anything."""

import json
from pathlib import Path

import cicd.readiness.rules as rules_package
from cicd.readiness.findings import load_reviewed
from cicd.readiness.pack import RULES, run
from cicd.readiness.rules.retained_resource_key_is_retained import RetainedResourceKeyIsRetained

RULES_DIR = Path(rules_package.__file__).parent
TESTS_DIR = Path(__file__).parent / "rules"
BAD = TESTS_DIR / "fixtures" / "retained_resource_key_is_retained" / "bad.json"
REASON = "Dev's key may go with the stack: dev holds synthetic data only (config/model.py)"


def bad_spec(metadata=None):
    spec = json.loads(BAD.read_text())
    if metadata is not None:
        spec["stacks"][0]["resources"]["DataKey"]["Metadata"] = {"deploy_readiness": {"rules_to_suppress": metadata}}
    return spec


def run_one(fixtures, spec, reviewed=None):
    ctx = fixtures.context(spec)
    return run(ctx.assembly, ctx.facts, reviewed=reviewed or [], rules=(RetainedResourceKeyIsRetained(),))


def test_the_pack_lists_every_rule_module_and_each_has_a_test_and_good_and_bad_fixtures():
    modules = {path.stem for path in RULES_DIR.glob("*.py")} - {"__init__"}
    listed = {type(rule).__module__.rsplit(".", 1)[-1] for rule in RULES}

    assert listed == modules
    for module in modules:
        assert (TESTS_DIR / f"test_{module}.py").is_file(), module
        assert {p.name for p in (TESTS_DIR / "fixtures" / module).glob("*.json")} == {"good.json", "bad.json"}, module


def test_rule_ids_are_their_class_names_and_each_says_what_it_finds_and_the_fix():
    assert len({rule.id for rule in RULES}) == len(RULES)
    assert all(rule.id == type(rule).__name__ and rule.finds and rule.fix for rule in RULES)


def test_a_metadata_suppression_with_a_reason_suppresses_the_finding(fixtures):
    report = run_one(fixtures, bad_spec([{"id": "RetainedResourceKeyIsRetained", "reason": REASON}]))

    assert report.findings == []
    assert [s.reason for _, s in report.suppressed] == [REASON, REASON]


def test_a_suppression_without_a_reason_suppresses_nothing_and_is_a_finding_itself(fixtures):
    report = run_one(fixtures, bad_spec([{"id": "RetainedResourceKeyIsRetained", "reason": "ok"}]))

    rules = sorted(f.rule for f in report.findings)
    assert rules == ["RetainedResourceKeyIsRetained", "RetainedResourceKeyIsRetained", "SuppressionHasAReason"]
    (missing,) = [f for f in report.findings if f.rule == "SuppressionHasAReason"]
    assert (missing.stack, missing.logical_id) == ("DeliveryPipeline/Dev/Storage", "DataKey")
    assert "metadata of DataKey" in missing.template


def test_a_reviewed_suppression_matches_by_stack_glob_and_applies_to_and_an_unused_one_is_a_warning(fixtures, tmp_path):
    reviewed_file = tmp_path / "suppressions.yaml"
    reviewed_file.write_text(
        "suppressions:\n"
        "  - rule: RetainedResourceKeyIsRetained\n"
        "    stack: DeliveryPipeline/*/Storage\n"
        "    logical_id: DataKey\n"
        "    applies_to: DeliveryPipeline/Dev/Storage/EvidenceBucket\n"
        f'    reason: "{REASON}"\n'
        "  - rule: RetainedResourceKeyIsRetained\n"
        "    stack: Prod-Storage\n"
        "    logical_id: '*'\n"
        f'    reason: "{REASON}"\n'
    )

    report = run_one(fixtures, bad_spec(), load_reviewed(reviewed_file, "suppressions.yaml"))

    assert [(f.rule, f.subject) for f in report.errors] == [
        ("RetainedResourceKeyIsRetained", "DeliveryPipeline/Dev/Audit/TrailLogs")
    ]
    (unused,) = [f for f in report.findings if f.severity == "warning"]
    assert (unused.rule, unused.template) == ("SuppressionIsUsed", "suppressions.yaml:7")


def test_a_suppression_of_an_unknown_rule_is_a_finding(fixtures):
    report = run_one(fixtures, bad_spec([{"id": "RetainedKeyIsRetained", "reason": REASON}]))

    assert "SuppressionHasAReason" in {f.rule for f in report.errors}
    assert any("'RetainedKeyIsRetained', which is no rule of the pack" in f.message for f in report.errors)
