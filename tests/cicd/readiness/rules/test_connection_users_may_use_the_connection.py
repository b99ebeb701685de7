from cicd.readiness.rules.connection_users_may_use_the_connection import ConnectionUsersMayUseTheConnection

RULE = ConnectionUsersMayUseTheConnection()


def test_roles_granted_only_the_old_prefix_for_a_codeconnections_arn_are_found(fixtures):
    findings = fixtures.run(RULE, "bad")

    assert sorted(f.logical_id for f in findings) == ["BuildRole", "SourceRole"]
    source = next(f for f in findings if f.logical_id == "SourceRole")
    assert "the role of source action Checkout" in source.message
    assert source.fix.startswith("grant codeconnections:UseConnection on arn:aws:codeconnections:")


def test_roles_granted_the_prefix_of_the_connection_arn_pass(fixtures):
    assert fixtures.run(RULE, "good") == []
