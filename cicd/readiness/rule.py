"""What every rule of the pack is: a name that says what it finds, a fix, and a check over the whole assembly."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import ClassVar

from cicd.readiness.assembly import Assembly, Resource, Stack
from cicd.readiness.facts import Facts
from cicd.readiness.findings import Finding
from cicd.readiness.pipelines import DeployOrder
from cicd.readiness.policy import IdentityPolicies


@dataclass
class Context:
    assembly: Assembly
    facts: Facts
    root: Path | None = None  # for template paths people can open

    @cached_property
    def order(self) -> DeployOrder:
        return DeployOrder(self.assembly)

    @cached_property
    def identities(self) -> IdentityPolicies:
        return IdentityPolicies(self.assembly)

    def template_path(self, stack: Stack) -> str:
        if self.root is not None:
            try:
                return stack.template_file.resolve().relative_to(self.root.resolve()).as_posix()
            except ValueError:
                pass
        return str(stack.template_file)


class Rule:
    """Subclass, name the class for what it finds, write `check`; list it in cicd/readiness/pack.py."""

    id: ClassVar[str]
    finds: ClassVar[str]  # one line for `--list`: the failure this rule prevents
    fix: ClassVar[str]  # the default fix; a finding may say it more precisely

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls.id = cls.__name__

    def check(self, ctx: Context) -> Iterable[Finding]:
        raise NotImplementedError

    def finding(
        self, ctx: Context, at: Resource, message: str, *, fix: str | None = None, subject: str = ""
    ) -> Finding:
        return Finding(
            rule=self.id,
            stack=at.stack.path,
            logical_id=at.logical_id,
            message=message,
            fix=fix or self.fix,
            template=ctx.template_path(at.stack),
            subject=subject,
        )
