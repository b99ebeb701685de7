"""The staging integration tests' toolchain, built where there is internet and used where there is none.

IntegrationTests runs in the staging VPC (it must reach MSK and Snowflake PrivateLink), whose subnets
route to those and to AWS service endpoints but not to PyPI or npm, and its build has no cache: it
cannot install anything. The IntegrationToolchain step, outside the VPC, builds the wheels of
requirements-integration.lock (hashes enforced, the same pins as requirements-dev.lock) from the
same commit; IntegrationTests receives them as an input artifact and installs them with --no-index.
"""

from __future__ import annotations

from aws_cdk import aws_codebuild as codebuild
from aws_cdk import pipelines
from constructs.gate_build_spec import GATE_RUNTIMES

# Where the wheels land; the Makefile's INTEGRATION_WHEELS (a test keeps the two equal).
WHEEL_DIR = "build/integration-toolchain"
BUILD_COMMAND = "make integration-toolchain"
TEST_COMMAND = "make integration-test"


def runtimes_build_spec() -> codebuild.BuildSpec:
    """Both builds select the gate's runtimes: wheels built for one Python do not install on another, and the
    tests start Spark on Java 17. Left unselected, CodeBuild picks the image's default, which changes."""
    return codebuild.BuildSpec.from_object({"phases": {"install": {"runtime-versions": dict(GATE_RUNTIMES)}}})


def integration_toolchain_step(
    *, source: pipelines.IFileSetProducer, build_environment: codebuild.BuildEnvironment
) -> pipelines.CodeBuildStep:
    """The step whose primary output is the wheelhouse; pass it to the tests as `additional_inputs`."""
    return pipelines.CodeBuildStep(
        "IntegrationToolchain",
        input=source,
        commands=[BUILD_COMMAND],
        primary_output_directory=WHEEL_DIR,
        build_environment=build_environment,
        partial_build_spec=runtimes_build_spec(),
    )
