from cicd.readiness.rules.vpc_build_installs_nothing_from_the_internet import (
    VpcBuildInstallsNothingFromTheInternet,
    installing_targets,
)

RULE = VpcBuildInstallsNothingFromTheInternet()


def test_vpc_builds_running_an_installing_make_target_or_npm_are_found(fixtures):
    findings = {f.logical_id: f for f in fixtures.run(RULE, "bad")}

    assert sorted(findings) == ["CanaryBuild", "IntegrationTests"]
    assert "the Makefile's integration-test target installs packages" in findings["IntegrationTests"].message
    assert "vpc-0d1e2f3a4b5c60004" in findings["IntegrationTests"].message
    assert findings["CanaryBuild"].subject == "npm ci"


def test_vpc_builds_that_install_nothing_and_builds_outside_a_vpc_pass(fixtures):
    assert fixtures.run(RULE, "good") == []


def test_a_make_target_installs_through_its_prerequisites_and_stamp_rules():
    makefile = fixtures_makefile()

    assert installing_targets(makefile) == {"$(VENV_STAMP)", "venv", "integration-test"}


def fixtures_makefile() -> str:
    import json
    from pathlib import Path

    spec = Path(__file__).parent / "fixtures" / "vpc_build_installs_nothing_from_the_internet" / "bad.json"
    return str(json.loads(spec.read_text())["facts"]["makefile"])


def test_an_install_from_staged_wheels_only_is_no_download():
    makefile = (
        "integration-test: ## in the VPC\n"
        "\tpython -m venv .venv-it\n"
        "\t.venv-it/bin/python -m pip install --no-index --no-deps build/wheels/*.whl\n"
        "canary:\n"
        "\tnpm ci --offline\n"
        "integration-toolchain: ## outside the VPC\n"
        "\tpython -m pip wheel --require-hashes -r requirements-integration.lock -w build/wheels\n"
        "online:\n"
        "\tpython -m pip install -r requirements.txt\n"
    )

    assert installing_targets(makefile) == {"online"}
