"""A custom resource does not wait longer than the Lambda function that serves it may run.

A custom resource's provider is a Lambda function; many resources can share one (CDK's AwsCustomResource
creates one function per stack and keeps the timeout of whichever resource came first). A resource that
states a ServiceTimeout longer than its provider's Timeout expects work the function is killed before
finishing: the deploy then hangs until CloudFormation gives up, and fails.
"""

from __future__ import annotations

from collections.abc import Iterable

from cicd.readiness.findings import Finding
from cicd.readiness.rule import Context, Rule

LAMBDA_DEFAULT_TIMEOUT_S = 3


class CustomResourceTimeoutWithinProvider(Rule):
    finds = "a custom resource whose ServiceTimeout is longer than its provider function's Timeout"
    fix = "give the resource a provider of its own with a long enough timeout, or raise the shared provider's timeout"

    def check(self, ctx: Context) -> Iterable[Finding]:
        assembly = ctx.assembly
        for resource in assembly.resources():
            if not (resource.type.startswith("Custom::") or resource.type == "AWS::CloudFormation::CustomResource"):
                continue
            wanted = assembly.text(resource.stack, resource.props.get("ServiceTimeout"))
            provider = assembly.resource_for(assembly.text(resource.stack, resource.props.get("ServiceToken")))
            if not wanted.isdigit() or provider is None or provider.type != "AWS::Lambda::Function":
                continue
            timeout = int(assembly.text(provider.stack, provider.props.get("Timeout", LAMBDA_DEFAULT_TIMEOUT_S)))
            if int(wanted) > timeout:
                users = [
                    other.logical_id
                    for other in assembly.resources()
                    if other != resource
                    and assembly.resource_for(assembly.text(other.stack, other.props.get("ServiceToken"))) == provider
                ]
                shared = f" (shared with {', '.join(users[:3])})" if users else ""
                yield self.finding(
                    ctx,
                    resource,
                    f"waits up to {wanted} s (ServiceTimeout), but its provider {provider.logical_id}{shared} stops "
                    f"after {timeout} s",
                    subject=str(provider),
                )
