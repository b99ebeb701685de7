import datetime as dt

import pytest

from pipeline_assets import schemas
from pipeline_assets.spark.operations_events_stream import codec, synthetic

SUBJECT = "operations.events.v1-value"
TOPIC = "operations.events.v1"


@pytest.fixture(scope="module")
def decoder():
    return codec.Decoder.for_topic(TOPIC)


def test_round_trip_with_the_current_schema(decoder):
    [event] = synthetic.events(1)
    result = decoder.decode(codec.encode(event, schemas.current_schema(SUBJECT)))
    assert result.error is None
    assert result.record["event_id"] == event["event_id"]
    assert result.record["occurred_at"] == event["occurred_at"]
    assert result.fingerprint == schemas.released_versions(SUBJECT)[-1]["fingerprint"]


def test_released_version_1_data_is_read_with_the_new_fields_defaulted(decoder):
    v1 = schemas.released_versions(SUBJECT)[0]["schema"]
    [event] = synthetic.events(1)
    old = {k: v for k, v in event.items() if k not in ("site_id", "duration_ms")}
    result = decoder.decode(codec.encode(old, v1))
    assert result.error is None and result.fingerprint == schemas.released_versions(SUBJECT)[0]["fingerprint"]
    assert (result.record["site_id"], result.record["duration_ms"]) == (None, None)


def test_unreleased_writer_schema_is_named_not_guessed(decoder):
    stranger = {
        "type": "record",
        "name": "OperationEvent",
        "namespace": "com.globant.dataplatform.operations",
        "fields": [{"name": "event_id", "type": "string"}],
    }
    message = codec.encode({"event_id": "x"}, stranger)
    result = decoder.decode(message)
    assert result.record is None
    assert result.error == f"unknown_writer_schema:{codec.schema_fingerprint(stranger).hex()}"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "null_value"),
        (b'{"event_id": 1}', "not_single_object_encoded"),
        (b"\xc3\x01\x00", "not_single_object_encoded"),
    ],
)
def test_framing_errors(decoder, value, reason):
    assert decoder.decode(value).error == reason


def test_truncated_and_padded_bodies_are_undecodable(decoder):
    [event] = synthetic.events(1)
    message = codec.encode(event, schemas.current_schema(SUBJECT))
    assert decoder.decode(message[:-5]).error.startswith("undecodable:")
    assert decoder.decode(message + b"\x00").error == "undecodable:trailing_bytes"


def test_synthetic_events_are_deterministic():
    assert synthetic.events(3, seed=1) == synthetic.events(3, seed=1)
    assert synthetic.events(3, seed=1) != synthetic.events(3, seed=2)
    assert synthetic.events(2)[1]["occurred_at"] - synthetic.events(2)[0]["occurred_at"] == dt.timedelta(
        milliseconds=25
    )
