"""What a check is, what it reports, and the context it runs in."""

from __future__ import annotations

import enum
import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from cicd.gate.cache import CacheStore

from platform_vocabulary.findings import Finding, ToolError

__all__ = ["CacheNote", "Check", "CheckResult", "Finding", "GateContext", "Status", "ToolError"]


class Status(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"  # the tool ran and found problems in the change
    ERROR = "error"  # the tool is missing, crashed or could not be run: never a pass
    SKIPPED = "skipped"  # not selected by --changed-since, or a dependency did not pass


@dataclass(frozen=True)
class CacheNote:
    """What the result cache did for a check: reused a stored pass, stored this one, or why neither."""

    action: str  # "reused" | "stored" | "not stored" | "disabled"
    key: str
    reason: str  # e.g. "inputs unchanged (412 files, tool locks, gate code)"
    stored_at: str | None = None  # when the reused result was stored
    original_duration_s: float | None = None

    def render(self) -> str:
        when = f", stored {self.stored_at}" if self.stored_at else ""
        return f"{self.action} (key {self.key[:12]}{when}): {self.reason}"


@dataclass
class CheckResult:
    name: str
    status: Status
    duration_s: float = 0.0
    findings: list[Finding] = field(default_factory=list)
    summary: str = ""
    report: str | None = None  # path of the tool's own report, when it writes one
    cache: CacheNote | None = None

    @property
    def reused(self) -> bool:
        return self.cache is not None and self.cache.action == "reused"

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]


@dataclass(frozen=True)
class GateContext:
    """Everything a check may look at. Checks never read os.environ or global state for input."""

    root: Path
    out_dir: Path  # build/gate: reports and intermediate outputs (e.g. the cloud assembly)
    changed_files: frozenset[str] | None = None  # None: everything is in scope (--all)
    base_ref: str | None = None  # the --changed-since reference, for checks that diff
    # The result store, for checks that reuse results below their own level (unit-tests, per test module);
    # use_stored=False (--no-cache) runs everything and still stores the passes.
    store: CacheStore | None = None
    use_stored: bool = True
    # (i, n): run shard i of n of the unit tests (a CodeBuild batch task, cicd/gate/batch.py).
    test_shard: tuple[int, int] | None = None

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    def relative(self, path: str | Path) -> str:
        """A tool's path as a repository-relative one, for findings people can open."""
        candidate = Path(path)
        try:
            return candidate.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(path)

    def report_path(self, name: str) -> Path:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        return self.out_dir / name

    def changed(self, patterns: tuple[str, ...]) -> list[str]:
        """Changed files matching the patterns; all matching files when nothing is narrowed."""
        if self.changed_files is None:
            return []
        return sorted(f for f in self.changed_files if any(fnmatch.fnmatch(f, p) for p in patterns))


class Check:
    """A gate check. Subclass, set the class attributes, implement run(), decorate with @register.

    run() returns findings; any finding with severity "error" fails the check. Raise ToolError
    when the tool itself cannot run: that is reported as an error, never as a pass.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    # fnmatch patterns of repository paths this check cares about; --changed-since selects the
    # check when any changed file matches. Empty: the check always runs.
    paths: ClassVar[tuple[str, ...]] = ()
    # Names of checks that must pass first (e.g. cfn-lint needs cdk-synth's cloud assembly).
    needs: ClassVar[tuple[str, ...]] = ()
    # Cheap checks that, when they are selected too, run first: if one fails this check is skipped ("skipped:
    # dag-integrity failed") instead of spending minutes on the same cause (a typo'd spec fails 90 unit tests).
    # Unlike `needs`, they are not pulled into a run, and --keep-going ignores them.
    after: ClassVar[tuple[str, ...]] = ()
    # Reads the jars and wheels `make packages` stages (synth refuses to run without them where the build sets
    # PACKAGES_REQUIRED): a CodeBuild batch task running this check stages them first (cicd/gate/batch.py).
    reads_staged_packages: ClassVar[bool] = False
    # Typical warm wall time on the reference 2-core machine: the runner starts the longest chain
    # first, so the slowest check never waits behind quick ones.
    expected_seconds: ClassVar[float] = 5.0
    # What the result depends on, for the result cache (cicd/gate/keys.py). `inputs`: repository paths
    # (default: `paths`; empty `paths`: the whole repository); Python files among them count with what they
    # import. `build_inputs`: files under build/ that the checks in `needs` wrote and this one reads; when
    # declared, they replace `needs` in the key (cfn-lint depends on the templates, not on the stack code).
    # `outputs`: files this check writes for others; a stored pass is only reused while they are present
    # and were written by a run with the same key. `narrows`: the check runs less under --changed-since.
    # `uses_base_ref`: its result depends on the --changed-since commit. `dated`: on today's date.
    inputs: ClassVar[tuple[str, ...] | None] = None
    build_inputs: ClassVar[tuple[str, ...]] = ()
    # `staged_inputs`: files under build/ that a step before the gate wrote (`make packages`) and this
    # check's tool reads; `environment_inputs`: environment variables its tool reads (the gate passes the
    # environment on to tools). Both are part of the key, or a pass of one setting stands for another.
    staged_inputs: ClassVar[tuple[str, ...]] = ()
    environment_inputs: ClassVar[tuple[str, ...]] = ()
    outputs: ClassVar[tuple[str, ...]] = ()
    narrows: ClassVar[bool] = False
    uses_base_ref: ClassVar[bool] = False
    dated: ClassVar[bool] = False

    # A one-line result a check may set during run() (e.g. "r-1a2b: 42 files"); shown when it passes.
    summary_note: str = ""

    def selected(self, ctx: GateContext) -> bool:
        if ctx.changed_files is None or not self.paths:
            return True
        return bool(ctx.changed(self.paths))

    def run(self, ctx: GateContext) -> list[Finding]:
        raise NotImplementedError
