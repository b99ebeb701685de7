"""What the staging post-steps do, with every AWS client injected.

Both run in the delivery account's CodeBuild and act in staging through the integration-test role
(TARGET_ROLE_ARN). Stack outputs arrive as environment variables (env_from_cfn_outputs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config import EnvironmentConfig


class PostStepError(Exception):
    """The step could not run (missing output, role not assumable): names what to fix."""


def require(environ: Mapping[str, str], name: str, hint: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise PostStepError(f"{name} is not set: {hint}")
    return value


def assumed_credentials(sts: Any, role_arn: str, session_name: str) -> dict[str, str]:
    try:
        creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name, DurationSeconds=3600)["Credentials"]
    except Exception as exc:  # botocore ClientError and friends: the message says why
        raise PostStepError(f"cannot assume {role_arn}: {exc}") from exc
    return {
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
    }


def external_test_env(
    environ: Mapping[str, str], *, env_config: EnvironmentConfig, secrets: Any, workdir: Path
) -> dict[str, str]:
    """EXTERNAL_* variables that switch tests/external from local substitutes to staging's systems."""
    run_id = environ.get("CODEBUILD_BUILD_NUMBER") or uuid.uuid4().hex[:8]
    variables = {
        "EXTERNAL_RUN_ID": f"run{run_id}",
        "EXTERNAL_S3_BUCKET": require(environ, "RAW_BUCKET", "the staging stage's RawBucketName output"),
    }
    snowflake = env_config.snowflake
    key_file = workdir / "snowflake_key.p8"
    key_file.write_text(_secret(secrets, snowflake.private_key_secret_name))
    key_file.chmod(0o600)
    variables |= {
        "EXTERNAL_SNOWFLAKE_ACCOUNT": snowflake.account,
        "EXTERNAL_SNOWFLAKE_USER": snowflake.user,
        "EXTERNAL_SNOWFLAKE_ROLE": snowflake.role,
        "EXTERNAL_SNOWFLAKE_WAREHOUSE": snowflake.warehouse,
        "EXTERNAL_SNOWFLAKE_DATABASE": snowflake.database,
        "EXTERNAL_SNOWFLAKE_PRIVATE_KEY_FILE": str(key_file),
    }
    bootstrap = _secret(secrets, env_config.streaming.bootstrap_servers_secret_name)
    try:
        parsed = json.loads(bootstrap)
        bootstrap = parsed["bootstrap_servers"] if isinstance(parsed, dict) else str(parsed)
    except (json.JSONDecodeError, KeyError):
        pass
    variables["EXTERNAL_KAFKA_BOOTSTRAP"] = bootstrap.strip()
    return variables


def _secret(secrets: Any, name: str) -> str:
    try:
        return str(secrets.get_secret_value(SecretId=name)["SecretString"])
    except Exception as exc:
        raise PostStepError(f"cannot read secret {name!r} in the target account: {exc}") from exc


def run_external_tests(root: Path, variables: Mapping[str, str], junit: Path) -> int:
    env = {**os.environ, **variables}
    junit.parent.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-m", "pytest", "tests/external", "-m", "external", "-q", f"--junitxml={junit}"]
    return subprocess.run(args, cwd=root, env=env, check=False).returncode


@dataclass(frozen=True)
class CanaryResult:
    function: str
    ok: bool
    detail: str


def invoke_canary(lambda_client: Any, function_name: str) -> CanaryResult:
    """One synchronous canary run; an error, a timeout or any reported problem is a failure."""
    try:
        response = lambda_client.invoke(FunctionName=function_name, InvocationType="RequestResponse", Payload=b"{}")
    except Exception as exc:
        return CanaryResult(function_name, False, f"invoke failed: {exc}")
    body = response["Payload"].read().decode() or "{}"
    if response.get("FunctionError"):
        return CanaryResult(function_name, False, f"{response['FunctionError']}: {body[:500]}")
    try:
        summary = json.loads(body)
    except json.JSONDecodeError:
        return CanaryResult(function_name, False, f"answered with something other than a summary: {body[:200]}")
    problems = summary.get("problems") or {}
    if problems:
        return CanaryResult(function_name, False, f"problems: {json.dumps(problems, sort_keys=True)}")
    return CanaryResult(function_name, True, f"ok ({summary.get('metrics_published', 0)} metrics)")


def run_canaries(lambda_client: Any, function_names: list[str]) -> list[CanaryResult]:
    if not function_names:
        raise PostStepError("no canary function names: CANARY_FUNCTIONS (the monitoring stack's output) is empty")
    return [invoke_canary(lambda_client, name) for name in function_names]


def scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="poststep-"))
