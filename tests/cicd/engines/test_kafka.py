"""The local Kafka broker: a real broker that round-trips messages, and one that cannot start is never left behind."""

from __future__ import annotations

import socket
import subprocess

import pytest

from cicd.engines import kafka
from cicd.engines.kafka import BrokerError, KafkaBroker, kafka_broker, server_properties


def test_the_broker_listens_on_loopback_only_and_formats_as_kraft(tmp_path):
    text = server_properties(data_dir=tmp_path / "data", port=19092, controller_port=19093)
    settings = dict(line.split("=", 1) for line in text.splitlines())
    assert settings["process.roles"] == "broker,controller"
    assert settings["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert settings["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert settings["auto.create.topics.enable"] == "false"


def test_a_cluster_id_is_a_kafka_uuid():
    ids = {kafka.cluster_id() for _ in range(5)}
    assert len(ids) == 5 and all(len(value) == 22 and "=" not in value for value in ids)


@pytest.mark.slow  # a real broker: the gate's unit tests stay offline and fast; make test runs it
def test_messages_round_trip_through_the_real_broker(kafka_broker: KafkaBroker):
    from confluent_kafka import Consumer, Producer

    kafka_broker.create_topic("engine-round-trip", partitions=3)
    producer = Producer(kafka_broker.client_config)
    for index in range(30):
        producer.produce("engine-round-trip", key=f"k{index}".encode(), value=f"v{index}".encode())
    assert producer.flush(30) == 0
    assert sum(kafka_broker.end_offsets("engine-round-trip").values()) == 30

    consumer = Consumer({**kafka_broker.client_config, "group.id": "round-trip", "auto.offset.reset": "earliest"})
    consumer.subscribe(["engine-round-trip"])
    seen: list[bytes] = []
    try:
        for _ in range(60):
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                seen.append(message.value())
            if len(seen) == 30:
                break
    finally:
        consumer.close()
    assert sorted(seen) == sorted(f"v{index}".encode() for index in range(30))


@pytest.mark.slow
def test_a_broker_that_cannot_bind_fails_loudly_and_is_not_left_running(tmp_path, monkeypatch):
    started: list[subprocess.Popen] = []
    real_popen = subprocess.Popen

    def recording_popen(*args, **kwargs):
        process = real_popen(*args, **kwargs)
        started.append(process)
        return process

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        busy = taken.getsockname()[1]
        monkeypatch.setattr(kafka, "free_port", lambda host="127.0.0.1": busy)
        monkeypatch.setattr(kafka.subprocess, "Popen", recording_popen)
        with pytest.raises(BrokerError, match="broker"), kafka_broker(workdir=tmp_path, startup_timeout_s=60):
            pass
    assert started and all(process.poll() is not None for process in started)


def test_stopping_a_process_group_escalates_to_sigkill():
    ignores_sigterm = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    )
    process = subprocess.Popen(["python3", "-c", ignores_sigterm], stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert process.stdout is not None and process.stdout.readline() == b"ready\n"
        assert kafka.stop_process_group(process, grace_s=0.5) == -9
    finally:
        if process.poll() is None:
            process.kill()
