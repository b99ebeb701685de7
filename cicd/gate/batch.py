"""Fan the gate out over a CodeBuild batch build: a `batch: build-graph` build spec generated from the checks.

Where one machine cannot run the whole gate in time (180 pipelines), the same checks run as tasks of one
CodeBuild batch build, each task a `validate --only <its checks>` on its own machine:

- `fast`: the cheap checks others wait for (`after`), alone, so a typo fails the batch in a minute and
  (batch fast-fail) stops the other tasks;
- one task per chain of checks joined by `needs` (release-build -> cdk-synth -> cfn-lint, ...): a task's
  checks share the files they hand each other, which separate builds could not;
- the remaining short checks together (`small_checks`): a machine each would cost more to start than to run;
- the unit tests in N shards (`--test-shard i/N`, balanced by module), since they are the longest check;
- `report`: after every other task, Validate's own commands (`make packages`, `make validate`) on one machine.
  Every check whose pass a task stored in the shared result store (GATE_CACHE_URI) is reused; the checks that
  write the pipeline's artifacts (the release bundle, the cloud assembly) rebuild them here, so the build's
  output and its evidence (post_build: `make audit-evidence`, RELEASE_ID) come from this task alone.

No scheduler of our own: CodeBuild runs the graph; this module only derives it from the checks' `needs` and
`after`, so the batch and a local run select, order and skip by the same rules.

It is a build spec for the trusted Validate project, never for pull requests, and it keeps issue 17's rules
by starting from Validate's own spec (constructs/gate_build_spec.py): it caches only what Validate may
(npm's verified cache and mypy's data, never a toolchain an unapproved commit could have planted a hook in),
every task installs the Python toolchain fresh from the locks (`make venv`), nothing in it judges who made
the change or whether it moves the trust boundary (ChangeEvidence and TrustBoundaryCheck do, outside it),
and the passes the report reuses are those its sibling tasks stored, in Validate's result store, which pull
requests can only read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cicd.gate.model import Check

FAST = "fast"
SMALL = "small_checks"
REPORT = "report"
# Chains expected to take less than this share one task: starting a CodeBuild machine takes about as long.
SMALL_TASK_SECONDS = 20.0
IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")  # CodeBuild batch task identifiers
VALIDATE = ".venv/bin/python -m cicd validate"
TASK_VARIABLE = "GATE_TASK"  # the task's identifier, in its environment: post_build runs only in the report


@dataclass(frozen=True)
class ValidateCommands:
    """What the trusted Validate build runs (constructs/gate_build_spec.py): staging packages, then the gate."""

    stage_packages: str
    main: str


@dataclass
class BatchTask:
    identifier: str
    checks: list[str]
    depend_on: list[str] = field(default_factory=list)
    test_shard: str | None = None  # "i/N" for a shard of the unit tests
    stages_packages: bool = False  # a check of the task reads what `make packages` stages

    def command(self, validate: ValidateCommands) -> str:
        if self.identifier == REPORT:
            return f"{validate.stage_packages} && {validate.main}"
        shard = f" --test-shard {self.test_shard}" if self.test_shard else ""
        gate = f"{VALIDATE} --only {','.join(self.checks)}{shard} --junit build/gate/junit-{self.identifier}.xml"
        return f"{validate.stage_packages} && {gate}" if self.stages_packages else gate

    def entry(self, validate: ValidateCommands) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "identifier": self.identifier,
            "env": {"variables": {TASK_VARIABLE: self.identifier, "GATE_COMMAND": self.command(validate)}},
        }
        if self.depend_on:
            entry["depend-on"] = list(self.depend_on)
        return entry


def _identifier(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", name)


def _chains(checks: Sequence[Check]) -> list[list[str]]:
    """Checks grouped into the connected components of `needs` (in the given order)."""
    by_name = {c.name: c for c in checks}
    group = {c.name: c.name for c in checks}

    def find(name: str) -> str:
        while group[name] != name:
            group[name] = group[group[name]]
            name = group[name]
        return name

    for check in checks:
        for need in check.needs:
            if need in by_name:
                group[find(check.name)] = find(need)
    components: dict[str, list[str]] = {}
    for check in checks:
        components.setdefault(find(check.name), []).append(check.name)
    return list(components.values())


def build_graph(checks: Sequence[Check], *, test_shards: int = 2) -> list[BatchTask]:
    """The batch's tasks for these checks (normally every registered check)."""
    names = {c.name for c in checks}
    gates = sorted({g for c in checks for g in c.after if g in names})
    by_name = {c.name: c for c in checks}

    def staged(chain: list[str]) -> bool:
        return any(by_name[name].reads_staged_packages for name in chain)

    tasks = [BatchTask(FAST, gates, stages_packages=staged(gates))] if gates else []
    gated = {c.name for c in checks if any(g in names for g in c.after)}
    small: list[str] = []
    for chain in _chains([c for c in checks if c.name not in gates]):
        # A chain that needs a gate check (rare) carries it along: --only pulls needs in anyway.
        waits = [FAST] if gates and gated.intersection(chain) else []
        if chain == ["unit-tests"] and test_shards > 1:
            for index in range(1, test_shards + 1):
                tasks.append(BatchTask(f"unit_tests_{index}", chain, waits, f"{index}/{test_shards}", staged(chain)))
        elif sum(by_name[n].expected_seconds for n in chain) < SMALL_TASK_SECONDS and not waits:
            small += chain  # a machine per 5 s check would spend more time starting than checking
        else:
            head = max(chain, key=lambda n: by_name[n].expected_seconds)
            tasks.append(BatchTask(_identifier(head), chain, waits, stages_packages=staged(chain)))
    if small:
        tasks.append(BatchTask(SMALL, sorted(small), stages_packages=staged(small)))
    tasks.append(BatchTask(REPORT, sorted(names), [t.identifier for t in tasks]))
    return tasks


def batch_build_spec(
    tasks: Sequence[BatchTask], validate_spec: dict[str, Any], validate: ValidateCommands
) -> dict[str, Any]:
    """Validate's build spec (`validate_spec`: its env, install, post_build, reports, cache) with the graph.

    Every task runs the same spec; its GATE_COMMAND says what it runs, and only the report task (which runs
    Validate's own commands) records evidence and exports the release id in post_build.
    """
    spec: dict[str, Any] = {"version": "0.2", **validate_spec}
    spec["batch"] = {"fast-fail": True, "build-graph": [task.entry(validate) for task in tasks]}
    phases = dict(spec.get("phases", {}))
    # The toolchain is never restored from a cache here (issue 17): each task installs it from the locks.
    phases["build"] = {"commands": ["make venv", 'eval "$GATE_COMMAND"']}
    post_build = phases.get("post_build", {}).get("commands", [])
    if post_build:
        in_report = f'[ "${TASK_VARIABLE}" = "{REPORT}" ]'
        phases["post_build"] = {"commands": [f"if {in_report}; then {command}; fi" for command in post_build]}
    spec["phases"] = phases
    spec["reports"] = {"ValidationGate": {"files": ["build/gate/junit*.xml"], "file-format": "JUNITXML"}}
    return spec


def shard(modules: Sequence[str], index: int, count: int) -> list[str]:
    """The modules of shard `index` (1-based) of `count`: round-robin over the sorted list, so every module is in
    exactly one shard and neighbouring (similar, similarly slow) modules spread out."""
    if not 1 <= index <= count:
        raise ValueError(f"test shard {index}/{count}: the index must be between 1 and {count}")
    return [module for position, module in enumerate(sorted(modules)) if position % count == index - 1]


def parse_shard(value: str) -> tuple[int, int]:
    """`--test-shard 2/3` -> (2, 3), with the rule in the error when it is not one."""
    import argparse

    match = re.fullmatch(r"(\d+)/(\d+)", value.strip())
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise argparse.ArgumentTypeError(f"{value!r}: write I/N with 1 <= I <= N, e.g. 1/2")
    return int(match.group(1)), int(match.group(2))


def write_batch_spec(checks: Sequence[Check], path: Path, *, test_shards: int) -> Path:
    """The batch build spec, from the trusted Validate build's spec (constructs/gate_build_spec.py), as YAML."""
    import os

    import yaml

    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")  # the import below starts jsii
    # Lazily: aws_cdk takes seconds to import, and the unit-tests check imports this module for `shard`.
    from constructs.gate_build_spec import MAIN_COMMAND, STAGE_PACKAGES_COMMAND, validate_build_spec_object

    validate = ValidateCommands(stage_packages=STAGE_PACKAGES_COMMAND, main=MAIN_COMMAND)
    spec = batch_build_spec(build_graph(checks, test_shards=test_shards), validate_build_spec_object(), validate)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Generated by `python -m cicd validate --batch-spec`: edit the checks, not this file.\n"
    path.write_text(header + yaml.safe_dump(spec, sort_keys=False, width=120))
    return path
