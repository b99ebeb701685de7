from cicd.readiness.rules.role_named_before_it_is_created import RoleNamedBeforeItIsCreated

RULE = RoleNamedBeforeItIsCreated()


def test_roles_named_before_their_stack_deploys_or_never_created_are_found(fixtures):
    findings = {(f.stack, f.logical_id): f for f in fixtures.run(RULE, "bad")}

    assert sorted(findings) == [
        ("DeliveryAudit", "ApproverGuard"),
        ("DeliveryPipeline", "Pipeline"),
        ("DeliveryPipeline/Staging/Access", "Tests"),
    ]
    never = findings[("DeliveryAudit", "ApproverGuard")]
    assert "DataPlatformReleaseApprovers" in never.message and "no stack of the assembly creates it" in never.message
    rule_role = findings[("DeliveryPipeline", "Pipeline")]
    assert "condition rule of stage Staging" in rule_role.message
    assert "DeliveryPipeline/Staging/Monitoring creates it only at" in rule_role.message
    assert rule_role.subject.endswith(":role/data-platform-staging-release-health-reader")
    trust = findings[("DeliveryPipeline/Staging/Access", "Tests")]
    assert "as a policy principal" in trust.message and "run order 2" in trust.message


def test_roles_created_by_an_earlier_stack_a_dependency_or_the_bootstrap_pass(fixtures):
    assert fixtures.run(RULE, "good") == []
