"""The CodeBuild environment and build spec that run the gate: one definition for every project.

The gate installs its own pinned toolchain (make venv), so the build spec only picks runtimes,
caches the installed toolchain between builds and publishes the gate's JUnit report.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_codebuild as codebuild

# What `make venv` installs, cached between pull-request builds (their own S3 cache) so a warm build
# skips the download. Never the .make/ stamps: a restored stamp tells make the toolchain is installed
# and verified, so a tampered or stale cached .venv would be used as is.
TOOLCHAIN_CACHE_PATHS = [
    ".venv/**/*",
    ".venv-checkov/**/*",
    "node_modules/**/*",
    "/root/.cache/uv/**/*",
    "build/gate/mypy-cache/**/*",
]
# The trusted Validate build runs every pushed commit, approved or not, and CodeBuild writes its cache back
# at the end of every build: whatever an unapproved commit leaves in a cached path, the next build restores.
# A `.pth` file added to the cached .venv survived `uv pip sync` and ran in later, approved builds; uv's
# cache trusts its own metadata, so a planted wheel would too. So Validate restores only stores that are
# checked against the lock before anything in them runs, and builds the Python toolchain fresh
# (a verified reinstall, ~30 s of uv): npm's content-addressed cache, whose entries `npm ci` checks
# against package-lock.json's sha512 integrity on every read, and mypy's incremental cache, which is
# data mypy reads, never code it runs.
TRUSTED_CACHE_PATHS = [
    "/root/.npm/_cacache/**/*",
    "build/gate/mypy-cache/**/*",
]
GATE_JUNIT = "build/gate/junit.xml"
# The runtimes every build of the gate's toolchain selects (CodeBuild's default ones change when they reach
# end of life); the locks are resolved for this Python.
GATE_RUNTIMES = {"python": "3.11", "nodejs": "20", "java": "corretto17"}
# The README's main command: the gate and the release build. The trusted Validate build runs nothing else.
MAIN_COMMAND = "make validate"
# Before it, Validate stages the jars and wheels the private-subnet runtimes install (docs/packages.md);
# PACKAGES_REQUIRED makes a missing or unlocked package stop synth instead of shipping a run that cannot start.
STAGE_PACKAGES_COMMAND = "make packages"
# After it, passed or failed: the gate report, the release and the templates go to the evidence ledger, and
# the release id becomes the action's RELEASE_ID. Who made the change and whether it moves the trust
# boundary are decided outside this build (ChangeEvidence, TrustBoundaryCheck): it runs the change.
VALIDATE_POST_BUILD = ("make audit-evidence", 'export RELEASE_ID="$(cat build/cdk.out/evidence/release-id)"')
BUILD_VARIABLES = {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CI": "true"}


def gate_build_environment() -> codebuild.BuildEnvironment:
    # Amazon Linux standard 5.0 carries Python 3.11, Node 20 and Corretto 17 (the gate's runtimes) and
    # Maven 3.9 in /opt/maven, which `make packages` uses for the Spark jars (it checks Maven and Java first).
    return codebuild.BuildEnvironment(
        build_image=codebuild.LinuxBuildImage.AMAZON_LINUX_2_5,
        compute_type=codebuild.ComputeType.LARGE,
    )


def gate_build_spec_object(*commands: str, exported_variables: tuple[str, ...] = ()) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "version": "0.2",
        "env": {"variables": dict(BUILD_VARIABLES)},
        "phases": {
            "install": {"runtime-versions": dict(GATE_RUNTIMES)},
            "build": {"commands": list(commands)},
        },
        "reports": {"ValidationGate": {"files": [GATE_JUNIT], "file-format": "JUNITXML"}},
        "cache": {"paths": TOOLCHAIN_CACHE_PATHS},
    }
    if exported_variables:
        spec["env"]["exported-variables"] = list(exported_variables)
    return spec


def validate_build_spec_object() -> dict[str, Any]:
    """The trusted Validate build's spec around its commands (CDK Pipelines adds those and exported-variables).

    One definition for the pipeline's Validate step and the CodeBuild batch build the gate generates from its
    checks (cicd/gate/batch.py), so the batch can never cache or run more than Validate may (issue 17).
    """
    return {
        "env": {"variables": {**BUILD_VARIABLES, "PACKAGES_REQUIRED": "true"}},
        "phases": {
            "install": {"runtime-versions": {"python": "3.11", "nodejs": "20", "java": "corretto17"}},
            "post_build": {"commands": list(VALIDATE_POST_BUILD)},
        },
        "reports": {"ValidationGate": {"files": [GATE_JUNIT], "file-format": "JUNITXML"}},
        "cache": {"paths": list(TRUSTED_CACHE_PATHS)},
    }


def gate_build_spec(*commands: str) -> codebuild.BuildSpec:
    return codebuild.BuildSpec.from_object(gate_build_spec_object(*commands))
