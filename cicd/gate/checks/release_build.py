"""Build the release bundle once; synth packages exactly these bytes for every environment."""

from __future__ import annotations

from cicd.gate.model import Check, Finding, GateContext
from cicd.gate.registry import register
from cicd.release.bundle import BundleError, build


@register
class ReleaseBuild(Check):
    name = "release-build"
    expected_seconds = 10
    outputs = ("build/release/current/release.json",)  # cdk-synth packages this bundle
    description = "content-addressed release bundle in build/release/<release_id> (DAGs, dbt, Spark, services)"

    def run(self, ctx: GateContext) -> list[Finding]:
        try:
            release = build(ctx.root, ctx.root / "build" / "release")
        except BundleError as exc:
            return [Finding(rule="release:bundle", message=str(exc), file="cicd/release", fix="see the message")]
        self.summary_note = f"{release.release_id}: {release.file_count} files, {release.size_bytes / 1e6:.1f} MB"
        return []
