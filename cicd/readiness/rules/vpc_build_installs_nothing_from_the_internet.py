"""A CodeBuild project that runs inside a VPC installs nothing from the internet.

In a VPC, CodeBuild reaches only what the subnets route to. A build spec that runs pip, uv, npm, apt or a
`make` target that installs the toolchain (read from the Makefile) needs a route to the package
registries: a NAT gateway or registry endpoints that the templates cannot show. Without one the build
hangs and fails before its first test. An install restricted to local files (`pip install --no-index`,
`npm ci --offline`) needs no route and is not a finding. Give the build a toolchain that needs no network, or write down
the route in a suppression, with where it is created.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import yaml

from cicd.readiness.findings import Finding
from cicd.readiness.rule import Context, Rule

INSTALLS = re.compile(
    r"\b(?:pip3?|uv)\b.*\b(?:install|sync)\b|\bnpm\s+(?:ci|install|i)\b|\bapt(?:-get)?\s+install\b"
    r"|\b(?:curl|wget)\b|\bmvn\b|\bgradle\b"
)
# An install that may only read local files (wheels staged in an input artifact, an npm cache) needs no route.
OFFLINE = re.compile(r"(?:^|\s)--(?:no-index|offline)\b")
RULE_LINE = re.compile(r"^([^\s#:=][^:=]*?)\s*:(?![:=])\s*(.*)$")


def downloads(line: str) -> bool:
    """Whether a command line installs packages from a registry (not from local files only)."""
    return bool(INSTALLS.search(line)) and not OFFLINE.search(line)


def make_rules(makefile: str) -> dict[str, tuple[list[str], list[str]]]:
    """Each target's prerequisites and recipe lines, as written (variables are not expanded)."""
    rules: dict[str, tuple[list[str], list[str]]] = {}
    current: list[str] = []
    for line in makefile.splitlines():
        if line.startswith("\t"):
            for target in current:
                rules[target][1].append(line.strip())
            continue
        match = RULE_LINE.match(line)
        if match and not line.lstrip().startswith((".PHONY", "export ")):
            current = match[1].split()
            prerequisites = match[2].split("##", 1)[0].split()
            for target in current:
                rules.setdefault(target, ([], []))[0].extend(prerequisites)
        elif line.strip() and not line.startswith(" "):
            current = []
    return rules


def installing_targets(makefile: str) -> set[str]:
    """Targets that install packages themselves or through a prerequisite."""
    rules = make_rules(makefile)
    memo: dict[str, bool] = {}

    def installs(target: str, seen: frozenset[str] = frozenset()) -> bool:
        if target in memo:
            return memo[target]
        if target not in rules or target in seen:
            return False
        prerequisites, recipe = rules[target]
        result = any(downloads(line) for line in recipe) or any(installs(p, seen | {target}) for p in prerequisites)
        memo[target] = result
        return result

    return {target for target in rules if installs(target)}


def commands(build_spec: str) -> list[str]:
    try:
        spec: Any = json.loads(build_spec)
    except json.JSONDecodeError:
        try:
            spec = yaml.safe_load(build_spec)
        except yaml.YAMLError:
            return []
    found = []
    for phase in ((spec or {}).get("phases") or {}).values() if isinstance(spec, dict) else ():
        found += [str(c) for c in (phase or {}).get("commands") or ()]
    return found


def installer(command: str, targets: set[str]) -> str | None:
    if downloads(command):
        return command
    words = command.split()
    if words[:1] == ["make"]:
        named = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
        hit = [t for t in named if t in targets]
        if hit:
            return f"{command} (the Makefile's {hit[0]} target installs packages)"
    return None


class VpcBuildInstallsNothingFromTheInternet(Rule):
    finds = "a CodeBuild project in a VPC whose build spec installs packages from the internet"
    fix = (
        "give the build its toolchain without network (a prebuilt image, or packages staged in S3), or suppress "
        "with the route the subnets have to the registries and the stack that creates it"
    )

    def check(self, ctx: Context) -> Iterable[Finding]:
        targets = installing_targets(ctx.facts.makefile)
        for project in ctx.assembly.resources("AWS::CodeBuild::Project"):
            vpc = project.props.get("VpcConfig") or {}
            if not vpc.get("Subnets"):
                continue
            spec = ctx.assembly.text(project.stack, (project.props.get("Source") or {}).get("BuildSpec", ""))
            for command in commands(spec):
                why = installer(command, targets)
                if why is not None:
                    yield self.finding(
                        ctx,
                        project,
                        f"runs in VPC {ctx.assembly.text(project.stack, vpc.get('VpcId'))} and its build spec runs "
                        f"`{why}`, which downloads packages; nothing in the assembly routes those subnets to the "
                        f"internet",
                        subject=command,
                    )
                    break
