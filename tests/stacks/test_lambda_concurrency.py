"""Reserved Lambda concurrency is configuration, checked per account against its stated quota (R1)."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_

from stacks import release_bundle
from stacks.lambda_concurrency import check_reserved_concurrency, reserved_by_account

from .test_app_synth import CDK_CONTEXT, app_module


def test_with_no_quota_in_config_nothing_in_the_app_reserves_concurrency(whole_app):
    # Fails on 9cf02fd: DeliveryAudit reserved 2x10 and each environment 6x1 whatever the account's quota.
    assert reserved_by_account(whole_app) == {}


def with_quota(config, quota: int):
    envs = tuple(
        e.model_copy(update={"functions": e.functions.model_copy(update={"concurrency_quota": quota})})
        for e in config.environments
    )
    delivery = config.delivery.model_copy(
        update={"functions": config.delivery.functions.model_copy(update={"concurrency_quota": quota})}
    )
    return config.model_copy(update={"delivery": delivery, "environments": envs})


def build_with_quota(config, release_dir, out, quota: int) -> cdk.App:
    patch = pytest.MonkeyPatch()
    patch.setattr(release_bundle, "DEFAULT_RELEASE_DIR", release_dir)
    patch.delenv("PACKAGES_REQUIRED", raising=False)
    try:
        app = cdk.App(context=CDK_CONTEXT, outdir=str(out / "cdk.out"), builtin_cloud_formation_validation=False)
        return app_module().build_app(with_quota(config, quota), app, packages_dir=out / "no-packages")
    finally:
        patch.undo()


@pytest.fixture(scope="module")
def reserving_app(config, release_dir, tmp_path_factory):
    return build_with_quota(config, release_dir, tmp_path_factory.mktemp("reserving"), 1000)


def test_a_stated_quota_turns_the_reservations_on_for_that_account(reserving_app, config):
    reserved = reserved_by_account(reserving_app)
    assert sum(n for _, n in reserved[config.delivery.account]) == 22  # ledger writer, guard, trust-boundary check
    prod = reserved[config.environment("prod").account]
    assert any(path.endswith("Activator/Function/Resource") and n == 1 for path, n in prod)
    assert len([p for p, _ in prod if "/Canaries/" in p]) == 5


def two_functions(account: str, reserved: int) -> cdk.App:
    app = cdk.App()
    stack = cdk.Stack(app, "Functions", env=cdk.Environment(account=account, region="eu-west-1"))
    for name in ("One", "Two"):
        lambda_.Function(
            stack,
            name,
            runtime=lambda_.Runtime.PYTHON_3_12,
            handler="index.handler",
            code=lambda_.Code.from_inline("def handler(event, context):\n    return None\n"),
            reserved_concurrent_executions=reserved,
        )
    return app


def test_reservations_that_leave_fewer_than_100_unreserved_are_refused_naming_the_file_and_the_fix():
    app = two_functions("444444444444", 10)
    check_reserved_concurrency(app, [("444444444444", 120, "config/prod.yaml")])  # 20 + 100 <= 120
    with pytest.raises(ValueError, match=r"config/prod\.yaml: functions\.concurrency_quota is 110, .* reserve 20 .*"):
        check_reserved_concurrency(app, [("444444444444", 110, "config/prod.yaml")])


def test_accounts_shared_by_two_environments_are_held_to_the_smaller_quota():
    app = two_functions("222222222222", 10)
    with pytest.raises(ValueError, match=r"config/dev\.yaml: functions\.concurrency_quota is 110"):
        check_reserved_concurrency(
            app, [("222222222222", 1000, "config/staging.yaml"), ("222222222222", 110, "config/dev.yaml")]
        )


def test_a_reservation_in_an_account_whose_quota_no_config_states_is_refused():
    with pytest.raises(ValueError, match=r"reserves concurrency in account 555555555555, whose quota no config states"):
        check_reserved_concurrency(two_functions("555555555555", 1), [("555555555555", None, "config/dev.yaml")])


def test_the_app_refuses_to_synthesize_reservations_an_accounts_stated_quota_cannot_hold(config, release_dir, tmp_path):
    # The delivery account's functions reserve 22: with a quota of 110 only 88 would stay unreserved.
    with pytest.raises(ValueError, match=r"config/delivery\.yaml: functions\.concurrency_quota is 110, .* reserve 22 "):
        build_with_quota(config, release_dir, tmp_path, 110)
