from cicd.readiness.rules.custom_resource_timeout_within_provider import CustomResourceTimeoutWithinProvider

RULE = CustomResourceTimeoutWithinProvider()


def test_a_custom_resource_that_waits_longer_than_its_shared_provider_runs_is_found(fixtures):
    (finding,) = fixtures.run(RULE, "bad")

    assert (finding.stack, finding.logical_id) == ("DeliveryPipeline/Dev/Orchestration", "PluginsCopy")
    assert "waits up to 300 s" in finding.message and "stops after 120 s" in finding.message
    assert "shared with RequirementsPut" in finding.message


def test_custom_resources_within_their_providers_timeout_pass(fixtures):
    assert fixtures.run(RULE, "good") == []
