"""Whoever uses a CodeConnections connection is granted UseConnection under the service prefix of its ARN.

CodeStar Connections was renamed CodeConnections: a connection created since mid-2024 has an
`arn:aws:codeconnections:` ARN, and IAM matches the action's service prefix to the resource's. A grant of
`codestar-connections:UseConnection` on a `codeconnections` ARN grants nothing: the source action cannot
fetch the repository, and a CodeBuild clone through the connection fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from cicd.readiness.assembly import Resource
from cicd.readiness.findings import Finding
from cicd.readiness.rule import Context, Rule

CONNECTION_ARN = re.compile(r"^arn:aws[\w-]*:(codeconnections|codestar-connections):[\w-]+:\d{12}:connection/[\w-]+$")


class ConnectionUsersMayUseTheConnection(Rule):
    finds = "a source action or build role that uses a connection without UseConnection under the ARN's own prefix"
    fix = "grant <prefix>:UseConnection with the prefix of the connection ARN (codeconnections or codestar-connections)"

    def check(self, ctx: Context) -> Iterable[Finding]:
        users: dict[tuple[Resource, str], str] = {}
        for pipeline in ctx.order.pipelines:
            for action in pipeline.actions:
                connection = str(action.configuration.get("ConnectionArn", ""))
                if action.category != "Source" or not CONNECTION_ARN.match(connection):
                    continue
                role = ctx.assembly.resource_for(action.role_arn or pipeline.role_arn)
                if role is not None:
                    users[(role, connection)] = f"the role of source action {action.name}"
        for role in ctx.assembly.resources("AWS::IAM::Role"):
            for statement in ctx.identities.of(role):
                if not (statement.allows and any(a.lower().endswith(":useconnection") for a in statement.actions)):
                    continue
                for resource in statement.resources:
                    if CONNECTION_ARN.match(resource):
                        users.setdefault((role, resource), "granted UseConnection on it")
        for (role, connection), why in users.items():
            match = CONNECTION_ARN.match(connection)
            prefix = match[1] if match else "codeconnections"
            needed = f"{prefix}:UseConnection"
            if not ctx.identities.allows(role, needed, connection):
                yield self.finding(
                    ctx,
                    role,
                    f"uses connection {connection} ({why}) but is not granted {needed}, the only prefix IAM matches "
                    "to that ARN",
                    fix=f"grant {needed} on {connection} to {role.logical_id}",
                    subject=connection,
                )
