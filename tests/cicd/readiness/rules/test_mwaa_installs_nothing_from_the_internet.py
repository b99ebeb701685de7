from cicd.readiness.rules.mwaa_installs_nothing_from_the_internet import MwaaInstallsNothingFromTheInternet

RULE = MwaaInstallsNothingFromTheInternet()


def test_a_deployed_requirements_file_with_a_constraints_url_and_an_index_bound_startup_install_are_found(fixtures):
    findings = fixtures.run(RULE, "bad")

    by_resource = sorted((f.logical_id, f.subject) for f in findings)
    assert by_resource == [
        ("RequirementsPut", "packages:no-index"),
        ("RequirementsPut", "packages:no-network"),
        ("StartupScriptPut", "packages:offline-install"),
    ]
    assert all(f.stack == "DeliveryPipeline/Staging/Orchestration" for f in findings)
    assert any("raw.githubusercontent.com" in f.message for f in findings)


def test_requirements_and_startup_script_that_install_only_shipped_wheels_pass(fixtures):
    assert fixtures.run(RULE, "good") == []
