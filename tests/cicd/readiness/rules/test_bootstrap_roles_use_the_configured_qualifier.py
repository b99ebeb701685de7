from cicd.readiness.rules.bootstrap_roles_use_the_configured_qualifier import BootstrapRolesUseTheConfiguredQualifier

RULE = BootstrapRolesUseTheConfiguredQualifier()


def test_a_stack_deployed_and_a_role_named_through_another_qualifier_are_found(fixtures):
    findings = sorted((f.stack, f.logical_id, f.subject) for f in fixtures.run(RULE, "bad"))

    assert findings == [
        ("DeliveryPipeline", "ReviewPolicy", "hnb659fds"),
        ("DeliveryPipeline/Prod/Storage", "(manifest)", "hnb659fds"),
        ("DeliveryPipeline/Prod/Storage", "BootstrapVersion", "hnb659fds"),
    ]


def test_an_assembly_that_uses_only_the_configured_qualifier_passes(fixtures):
    assert fixtures.run(RULE, "good") == []
