"""Reserved Lambda concurrency against each account's quota, checked at synth (config functions.concurrency_quota).

Lambda refuses a reservation that would leave an account fewer than 100 unreserved concurrent
executions, and a new account's quota may be 10: a reservation that fits one account fails another's
deploy. The functions reserve only where config states the account's quota, and this check sums every
reservation of the app per account (dev and staging may share one) against the smallest quota stated
for it, before anything is deployed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from constructs import IConstruct

UNRESERVED_MINIMUM = 100  # what Lambda always keeps unreserved in an account


def reserved_by_account(scope: IConstruct) -> dict[str, list[tuple[str, int]]]:
    """(construct path, reserved executions) of every function under `scope` that reserves, per account."""
    found: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for node in scope.node.find_all():
        if isinstance(node, lambda_.CfnFunction) and node.reserved_concurrent_executions is not None:
            found[str(cdk.Stack.of(node).account)].append((node.node.path, int(node.reserved_concurrent_executions)))
    return dict(found)


def check_reserved_concurrency(scope: IConstruct, quotas: Iterable[tuple[str, int | None, str]]) -> None:
    """Refuse a synth whose reservations leave an account fewer than 100 unreserved executions.

    `quotas`: (account, functions.concurrency_quota, config file) for every configured account.
    """
    stated: dict[str, list[tuple[int | None, str]]] = defaultdict(list)
    for account, quota, source in quotas:
        stated[account].append((quota, source))
    for account, reservations in sorted(reserved_by_account(scope).items()):
        known = [(quota, source) for quota, source in stated.get(account, []) if quota is not None]
        total = sum(reserved for _, reserved in reservations)
        if not known:
            raise ValueError(
                f"{reservations[0][0]} reserves concurrency in account {account}, whose quota no config states "
                "(rule: reserve only against functions.concurrency_quota); set it in that account's config file"
            )
        quota, source = min(known)
        if total + UNRESERVED_MINIMUM > quota:
            biggest = ", ".join(
                f"{path} ({reserved})" for path, reserved in sorted(reservations, key=lambda r: -r[1])[:3]
            )
            raise ValueError(
                f"{source}: functions.concurrency_quota is {quota}, but the functions of account {account} reserve "
                f"{total} and Lambda keeps {UNRESERVED_MINIMUM} unreserved (rule: reserved + {UNRESERVED_MINIMUM} <= "
                f"quota; largest: {biggest}); raise the quota in Service Quotas and here, or unset "
                "functions.concurrency_quota to reserve nothing"
            )
