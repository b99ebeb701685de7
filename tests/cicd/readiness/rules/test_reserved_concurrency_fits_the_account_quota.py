from cicd.readiness.rules.reserved_concurrency_fits_the_account_quota import ReservedConcurrencyFitsTheAccountQuota

RULE = ReservedConcurrencyFitsTheAccountQuota()


def test_a_quota_left_below_100_unreserved_and_an_unstated_quota_are_found(fixtures):
    findings = {f.subject: f for f in fixtures.run(RULE, "bad")}

    assert sorted(findings) == ["111111111111", "333333333333"]
    assert "reserves 20 of its 110 concurrent executions" in findings["111111111111"].message
    assert findings["111111111111"].logical_id == "LedgerWriter"
    # Staging's reservations are added up over its two stacks.
    assert "reserves 2 concurrent executions" in findings["333333333333"].message
    assert "stated nowhere" in findings["333333333333"].message
    assert "cicd/readiness/accounts.yaml" in findings["333333333333"].fix


def test_reservations_that_leave_every_stated_quota_100_free_pass(fixtures):
    assert fixtures.run(RULE, "good") == []
