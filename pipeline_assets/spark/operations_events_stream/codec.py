"""Avro single-object encoding of operations events (Avro specification, "Single-object encoding").

A message is 0xC3 0x01, the 8-byte CRC-64-AVRO fingerprint of the writer schema's Parsing
Canonical Form, then the Avro binary body. The fingerprint identifies the writer schema without
a registry round trip: the job knows every released version of the subject (they ship in the
same bundle, pipeline_assets/schemas/released/) and resolves each message against the newest
schema, the reader. A fingerprint it does not know is a quarantine reason, not a crash.

No pyspark import here: producers, the tests and the Spark UDF share this module.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from pipeline_assets import schemas

MAGIC = b"\xc3\x01"
HEADER_LENGTH = len(MAGIC) + 8


def schema_fingerprint(schema: Any) -> bytes:
    canonical = to_parsing_canonical_form(fastavro.parse_schema(schema, _write_hint=False))
    return bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))


def encode(record: dict[str, Any], schema: Any) -> bytes:
    """One message as a producer following the contract writes it."""
    buffer = io.BytesIO()
    buffer.write(MAGIC + schema_fingerprint(schema))
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema), record)
    return buffer.getvalue()


@dataclass(frozen=True)
class Decoded:
    record: dict[str, Any] | None
    fingerprint: str | None
    error: str | None  # a stable reason prefix, then detail: "unknown_writer_schema:<hex>"


class Decoder:
    def __init__(self, reader_schema: Any, writer_schemas: list[Any]) -> None:
        self.reader = fastavro.parse_schema(reader_schema)
        self.writers = {schema_fingerprint(s): fastavro.parse_schema(s) for s in [*writer_schemas, reader_schema]}

    @classmethod
    def for_topic(cls, topic: str) -> Decoder:
        subject = schemas.subject_for_topic(topic)
        released = [version["schema"] for version in schemas.released_versions(subject.name)]
        return cls(schemas.current_schema(subject.name), released)

    def decode(self, value: bytes | None) -> Decoded:
        if value is None:
            return Decoded(None, None, "null_value")
        if len(value) < HEADER_LENGTH or value[:2] != MAGIC:
            return Decoded(None, None, "not_single_object_encoded")
        key = bytes(value[2:HEADER_LENGTH])
        writer = self.writers.get(key)
        if writer is None:
            return Decoded(None, key.hex(), f"unknown_writer_schema:{key.hex()}")
        body = io.BytesIO(value[HEADER_LENGTH:])
        try:
            record = fastavro.schemaless_reader(body, writer, self.reader)
        except Exception as exc:  # any decoding failure is the message's fault, never the job's
            return Decoded(None, key.hex(), f"undecodable:{type(exc).__name__}")
        if body.read(1):
            return Decoded(None, key.hex(), "undecodable:trailing_bytes")
        return Decoded(record, key.hex(), None)  # type: ignore[arg-type]
