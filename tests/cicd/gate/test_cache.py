"""Result stores: a local folder and an S3 prefix (moto), chosen by GATE_CACHE_URI, read-only on request."""

import boto3
import pytest
from moto import mock_aws

from cicd.gate.cache import CacheError, LocalStore, ReadOnlyStore, S3Store, store_from_env

KEY = "ab" * 32
ENTRY = {"check": "cfn-lint", "status": "passed", "summary": "7 templates"}


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="eu-west-1")
        client.create_bucket(Bucket="gate-cache", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield client


def test_local_store_round_trips_an_entry_under_check_and_key(tmp_path):
    store = LocalStore(tmp_path / "cache")
    assert store.get("cfn-lint", KEY) is None
    store.put("cfn-lint", KEY, ENTRY)
    assert (tmp_path / "cache" / "cfn-lint" / f"{KEY}.json").is_file()
    assert store.get("cfn-lint", KEY) == ENTRY


def test_a_half_written_local_entry_is_a_miss_not_a_crash(tmp_path):
    (tmp_path / "cfn-lint").mkdir()
    (tmp_path / "cfn-lint" / f"{KEY}.json").write_text('{"status": "pass')
    assert LocalStore(tmp_path).get("cfn-lint", KEY) is None


@pytest.mark.parametrize(("check", "key"), [("../etc", KEY), ("cfn-lint", "../../x"), ("cfn-lint", "not-hex")])
def test_names_that_could_leave_the_store_are_refused(tmp_path, check, key):
    with pytest.raises(CacheError, match="invalid cache entry name"):
        LocalStore(tmp_path).put(check, key, ENTRY)


def test_s3_store_round_trips_under_its_prefix(s3):
    store = S3Store("gate-cache", "gate/main", s3)
    assert store.get("cfn-lint", KEY) is None
    store.put("cfn-lint", KEY, ENTRY)
    assert s3.head_object(Bucket="gate-cache", Key=f"gate/main/cfn-lint/{KEY}.json")
    assert store.get("cfn-lint", KEY) == ENTRY


def test_an_s3_write_that_fails_names_the_object_and_the_read_only_setting(s3):
    store = S3Store("no-such-bucket", "gate", s3)
    with pytest.raises(CacheError, match=r"s3://no-such-bucket/gate/cfn-lint/.*GATE_CACHE_READONLY=1"):
        store.put("cfn-lint", KEY, ENTRY)
    assert store.get("cfn-lint", KEY) is None  # a read that fails is a miss: the check runs


def test_the_environment_selects_s3_read_only_and_nothing_is_written(s3, tmp_path):
    S3Store("gate-cache", "gate", s3).put("cfn-lint", KEY, ENTRY)
    store = store_from_env(tmp_path, {"GATE_CACHE_URI": "s3://gate-cache/gate", "GATE_CACHE_READONLY": "1"}, s3)
    assert isinstance(store, ReadOnlyStore) and store.describe() == "s3://gate-cache/gate (read-only)"
    assert store.get("cfn-lint", KEY) == ENTRY
    store.put("checkov", KEY, ENTRY)
    listed = s3.list_objects_v2(Bucket="gate-cache")["Contents"]
    assert [o["Key"] for o in listed] == [f"gate/cfn-lint/{KEY}.json"]


def test_the_default_store_is_build_gate_cache_and_a_path_uri_is_a_folder(tmp_path):
    assert store_from_env(tmp_path, {}).describe() == str(tmp_path / "build" / "gate" / "cache")
    assert store_from_env(tmp_path, {"GATE_CACHE_URI": str(tmp_path / "shared")}).describe() == str(tmp_path / "shared")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GATE_CACHE_URI": "s3:///prefix"}, "names no bucket"),
        ({"GATE_CACHE_READONLY": "maybe"}, "use 1 .read only. or 0"),
    ],
)
def test_bad_cache_settings_are_refused_with_the_fix(tmp_path, env, message):
    with pytest.raises(CacheError, match=message):
        store_from_env(tmp_path, env, s3_client=object())
