"""The suite-wide set-up in tests/conftest.py: what it shares between tests and what it must not."""

from __future__ import annotations

import ast
from pathlib import Path

import boto3
import pytest
from moto import mock_aws


def session_of_a_mocked_test():
    with mock_aws():
        boto3.client("s3").list_buckets()
        return boto3.DEFAULT_SESSION


def test_mocked_tests_share_one_boto3_session_so_service_models_load_once():
    first, second = session_of_a_mocked_test(), session_of_a_mocked_test()
    assert first is not None
    assert second is first


@pytest.fixture(scope="module")
def session_left_by_earlier_tests():
    # Module scope: set up before the function-scoped autouse fixture under test runs.
    saved, boto3.DEFAULT_SESSION = boto3.DEFAULT_SESSION, boto3.Session()
    yield boto3.DEFAULT_SESSION
    boto3.DEFAULT_SESSION = saved


@pytest.mark.external
def test_external_tests_do_not_inherit_the_shared_session(session_left_by_earlier_tests):
    # With EXTERNAL_* pointing at staging, a session built under moto would carry its fake credentials.
    assert boto3.DEFAULT_SESSION is not session_left_by_earlier_tests
    assert boto3.DEFAULT_SESSION is None


def fixtures_defined(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
        and any("fixture" in ast.unparse(decorator) for decorator in node.decorator_list)
    }


def test_one_spark_fixture_serves_the_whole_suite(repo_root):
    """A folder-level `spark` fixture would start a second session (and JVM settings) beside the shared one."""
    tests = repo_root / "tests"
    defining = sorted(
        str(path.relative_to(tests)) for path in tests.rglob("conftest.py") if "spark" in fixtures_defined(path)
    )
    assert defining == ["conftest.py"], f"move the spark fixture of {defining} to tests/conftest.py"
