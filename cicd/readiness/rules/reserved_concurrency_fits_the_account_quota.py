"""Reserved Lambda concurrency leaves the account the 100 unreserved executions Lambda insists on.

Lambda refuses a reservation that would leave fewer than 100 unreserved concurrent executions in the
account and region. The default quota is 1,000, but new accounts start far lower, so a stack that reserves
even 20 fails on them. Reservations are added up over every stack of the account; the quota is a fact of
the account, stated with its source in cicd/readiness/accounts.yaml.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from cicd.readiness.assembly import Resource
from cicd.readiness.facts import ACCOUNTS_FILE
from cicd.readiness.findings import Finding
from cicd.readiness.rule import Context, Rule

MIN_UNRESERVED = 100


class ReservedConcurrencyFitsTheAccountQuota(Rule):
    finds = (
        "reserved Lambda concurrency that leaves an account fewer than 100 unreserved executions, or an unstated quota"
    )
    fix = f"drop the reservation, or state the account's quota (with its source) in {ACCOUNTS_FILE} and keep 100 free"

    def check(self, ctx: Context) -> Iterable[Finding]:
        reserved: dict[tuple[str, str], list[tuple[Resource, int]]] = defaultdict(list)
        for function in ctx.assembly.resources("AWS::Lambda::Function"):
            value = ctx.assembly.text(function.stack, function.props.get("ReservedConcurrentExecutions"))
            if value.isdigit() and int(value) > 0:
                reserved[(function.stack.account, function.stack.region)].append((function, int(value)))
        for (account, region), functions in reserved.items():
            total = sum(amount for _, amount in functions)
            largest = max(functions, key=lambda item: item[1])[0]
            names = ", ".join(f"{f.logical_id} ({n})" for f, n in functions[:4]) + (
                " ..." if len(functions) > 4 else ""
            )
            quota = ctx.facts.lambda_concurrency_quota.get(account)
            if quota is None:
                yield self.finding(
                    ctx,
                    largest,
                    f"account {account} ({region}) reserves {total} concurrent executions ({names}), but its "
                    f"concurrency quota is stated nowhere: below {total + MIN_UNRESERVED} the deploy fails",
                    subject=account,
                )
            elif quota - total < MIN_UNRESERVED:
                yield self.finding(
                    ctx,
                    largest,
                    f"account {account} ({region}) reserves {total} of its {quota} concurrent executions ({names}), "
                    f"leaving {quota - total}; Lambda requires {MIN_UNRESERVED} unreserved",
                    subject=account,
                )
