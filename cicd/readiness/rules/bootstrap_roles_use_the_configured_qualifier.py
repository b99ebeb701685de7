"""The assembly deploys through the bootstrap the accounts have: the qualifier config/delivery.yaml states.

`cdk bootstrap --qualifier` names the deploy, exec, lookup and publishing roles, the asset bucket and the
version parameter. A stack or pipeline that names another qualifier's roles (or CDK's default where the
accounts were bootstrapped with their own) fails at the first deploy with an AccessDenied on a role that
does not exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from cicd.readiness.assembly import walk
from cicd.readiness.findings import Finding
from cicd.readiness.rule import Context, Rule

QUALIFIED = re.compile(
    r"cdk-([a-z0-9]+)-(?:deploy|cfn-exec|lookup|file-publishing|image-publishing)-role-\d{12}"
    r"|cdk-([a-z0-9]+)-(?:assets|container-assets)-\d{12}"
    r"|/cdk-bootstrap/([a-z0-9]+)/version"
)
MANIFEST = "(manifest)"


def qualifiers(text: str) -> set[str]:
    return {next(group for group in match.groups() if group) for match in QUALIFIED.finditer(text)}


class BootstrapRolesUseTheConfiguredQualifier(Rule):
    finds = (
        "a stack or its manifest naming bootstrap roles, buckets or parameters of a qualifier other than the "
        "configured one"
    )
    fix = (
        "synthesize with the configured qualifier (DefaultStackSynthesizer(qualifier=...)) or correct "
        "delivery.bootstrap_qualifier"
    )

    def check(self, ctx: Context) -> Iterable[Finding]:
        expected = ctx.facts.bootstrap_qualifier
        for stack in ctx.assembly.stacks:
            wrong = {q for _, text in walk(stack.manifest) for q in qualifiers(text)} - {expected}
            if wrong:
                yield Finding(
                    rule=self.id,
                    stack=stack.path,
                    logical_id=MANIFEST,
                    message=f"deploys through bootstrap qualifier {', '.join(sorted(wrong))}, but the accounts are "
                    f"bootstrapped with {expected!r} (config/delivery.yaml bootstrap_qualifier)",
                    fix=self.fix,
                    template=ctx.template_path(stack),
                    subject=",".join(sorted(wrong)),
                )
            for name, body in stack.template.get("Parameters", {}).items():
                wrong = qualifiers(str(body.get("Default", ""))) - {expected}
                if wrong:
                    yield Finding(
                        rule=self.id,
                        stack=stack.path,
                        logical_id=name,
                        message=f"reads bootstrap qualifier {', '.join(sorted(wrong))}, "
                        f"not the configured {expected!r}",
                        fix=self.fix,
                        template=ctx.template_path(stack),
                        subject=",".join(sorted(wrong)),
                    )
        for resource in ctx.assembly.resources():
            found = {q for _, text in walk(ctx.assembly.deep(resource.stack, resource.props)) for q in qualifiers(text)}
            wrong = found - {expected}
            if wrong:
                yield self.finding(
                    ctx,
                    resource,
                    f"names bootstrap resources of qualifier {', '.join(sorted(wrong))}, but the accounts are "
                    f"bootstrapped with {expected!r}",
                    subject=",".join(sorted(wrong)),
                )
