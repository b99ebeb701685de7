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


def test_a_root_stack_creating_the_role_without_being_a_dependency_is_found_with_the_dependency_to_add(fixtures):
    spec = fixtures.spec(RULE, "good")
    pipeline = next(s for s in spec["stacks"] if s["path"] == "DeliveryPipeline")
    pipeline["depends_on"] = ["DeliveryAudit"]  # StagingDeliveryAccess is deployed by hand, in no particular order

    (finding,) = RULE.check(fixtures.context(spec))

    assert (finding.stack, finding.logical_id) == ("DeliveryPipeline", "Pipeline")
    assert "StagingDeliveryAccess, which creates it, is no dependency of DeliveryPipeline" in finding.message
    assert finding.fix == "make DeliveryPipeline depend on StagingDeliveryAccess (stack.add_dependency)"
