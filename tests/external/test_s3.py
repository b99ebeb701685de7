"""S3 behaviour the streaming control relies on, over HTTP: listing pages, batched deletes, copies.

Locally against moto in server mode; in staging against the real bucket, inside a per-run prefix.
"""

from concurrent.futures import ThreadPoolExecutor

import pytest

from pipeline_assets.streaming_control import store

pytestmark = pytest.mark.external


def test_work_stays_inside_the_run_prefix(s3):
    s3.client.put_object(Bucket=s3.bucket, Key=s3.prefix + "probe/a.txt", Body=b"a")
    assert s3.keys("probe/") == ["probe/a.txt"]
    assert s3.client.get_object(Bucket=s3.bucket, Key=s3.prefix + "probe/a.txt")["Body"].read() == b"a"
    listed = s3.client.list_objects_v2(Bucket=s3.bucket, Prefix="external-tests/")["Contents"]
    assert all(item["Key"].startswith("external-tests/") for item in listed)


def test_checkpoint_snapshot_and_restore_round_trip(s3):
    checkpoint = "checkpoint/"
    for batch in range(4):
        s3.client.put_object(Bucket=s3.bucket, Key=f"{s3.prefix}{checkpoint}offsets/{batch}", Body=b"{}")
        s3.client.put_object(Bucket=s3.bucket, Key=f"{s3.prefix}{checkpoint}commits/{batch}", Body=b"{}")
    s3.client.put_object(Bucket=s3.bucket, Key=f"{s3.prefix}{checkpoint}metadata", Body=b'{"id":"q"}')
    snapshot = s3.prefix + "snapshots/s1/"
    assert store.copy_prefix(s3.client, s3.bucket, s3.prefix + checkpoint, snapshot) == 9
    assert store.last_committed_batch(s3.client, s3.uri("checkpoint")) == 3

    # A newer version ran on: more batches, and a state file the old version cannot read.
    for batch in (4, 5):
        s3.client.put_object(Bucket=s3.bucket, Key=f"{s3.prefix}{checkpoint}commits/{batch}", Body=b"{}")
    s3.client.put_object(Bucket=s3.bucket, Key=f"{s3.prefix}{checkpoint}state/0/0/6.delta", Body=b"v2")
    store.replace_prefix(s3.client, s3.bucket, s3.prefix + checkpoint, snapshot)
    assert s3.keys(checkpoint) == [k.replace("snapshots/s1/", checkpoint) for k in s3.keys("snapshots/s1/")]
    assert store.last_committed_batch(s3.client, s3.uri("checkpoint")) == 3


def test_pruning_after_a_batch_pages_through_listings_and_batches_deletes(s3):
    # 1,010 objects: more than one ListObjectsV2 page and more than one DeleteObjects call.
    sink = "sink/"
    names = [f"{s3.prefix}{sink}{store.batch_folder(b)}part-{p:05d}.parquet" for b in range(101) for p in range(10)]
    with ThreadPoolExecutor(max_workers=8) as pool:  # boto3 clients are thread-safe; uploads are the slow part
        list(pool.map(lambda key: s3.client.put_object(Bucket=s3.bucket, Key=key, Body=b"x"), names))
    deleted = store.prune_batches_after(s3.client, s3.uri("sink"), 0)  # keep batch 0 only
    assert deleted == 1000
    assert s3.keys(sink) == [f"{sink}batch_id=0000000000/part-{p:05d}.parquet" for p in range(10)]
