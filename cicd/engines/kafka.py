"""A real Apache Kafka broker on 127.0.0.1 for the tests and the rehearsal, in KRaft mode (broker and controller).

    with kafka_broker() as broker:          # jars from kafka-broker.jars.lock.json, sha256-checked
        broker.create_topic("operations.events.v1", partitions=3)
        Producer({"bootstrap.servers": broker.bootstrap})

Started as Kafka's own distribution starts it: format the storage directory with a cluster id, then
`java -cp <locked jars> kafka.Kafka server.properties`. Ports are chosen free on 127.0.0.1; the broker is
ready when it answers a metadata request and a topic can be created. Whatever happens, the process group
it started is stopped (SIGTERM, then SIGKILL) when the block ends, and a failed start kills it first.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cicd.engines.jars import KAFKA_BROKER_LOCK, ROOT, classpath, locked_jars

HOST = "127.0.0.1"
HEAP = "-Xmx384m"  # a test broker holds a few MB; the machine is shared


class BrokerError(RuntimeError):
    pass


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def cluster_id() -> str:
    """A Kafka Uuid: 16 random bytes, URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def server_properties(*, data_dir: Path, port: int, controller_port: int, partitions: int = 3) -> str:
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{HOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": str(partitions),
        # One broker: every internal topic has one replica.
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        # Topics exist only where a test or the rehearsal created them, as on MSK.
        "auto.create.topics.enable": "false",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


@dataclass
class KafkaBroker:
    bootstrap: str
    workdir: Path
    process: subprocess.Popen[bytes]

    @property
    def client_config(self) -> dict[str, Any]:
        return {"bootstrap.servers": self.bootstrap}

    def admin(self) -> Any:
        from confluent_kafka.admin import AdminClient

        return AdminClient(quiet(self.client_config))

    def create_topic(self, name: str, *, partitions: int = 3, timeout_s: float = 30) -> None:
        from confluent_kafka.admin import NewTopic

        admin = self.admin()  # held until the futures resolve: a collected client cancels them
        for future in admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)]).values():
            future.result(timeout=timeout_s)

    def delete_topic(self, name: str, *, timeout_s: float = 30) -> None:
        admin = self.admin()
        for future in admin.delete_topics([name]).values():
            future.result(timeout=timeout_s)

    def end_offsets(self, topic: str, *, timeout_s: float = 30) -> dict[int, int]:
        """The next offset of every partition: how many messages the topic holds (nothing is compacted here)."""
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer(quiet({**self.client_config, "group.id": f"offsets-{uuid.uuid4().hex[:8]}"}))
        try:
            partitions = consumer.list_topics(topic, timeout=timeout_s).topics[topic].partitions
            return {
                p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)[1] for p in partitions
            }
        finally:
            consumer.close()

    def stop(self, grace_s: float = 15) -> int | None:
        return stop_process_group(self.process, grace_s)


def quiet(config: dict[str, Any]) -> dict[str, Any]:
    """librdkafka logs every refused connection to stderr; while a broker starts or stops that is expected."""
    return {**config, "log_level": 0}


def stop_process_group(process: subprocess.Popen[Any], grace_s: float) -> int | None:
    """SIGTERM to the group the process leads, then SIGKILL after grace_s; returns its exit code."""
    if process.poll() is not None:
        return process.returncode
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            return process.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
    return process.poll()


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise BrokerError("java is not on PATH; the Kafka broker needs Java 17 (as the rest of the toolchain)")
    return java


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


def _ready(bootstrap: str, timeout_s: float) -> bool:
    from confluent_kafka.admin import AdminClient

    try:
        metadata = AdminClient(quiet({"bootstrap.servers": bootstrap})).list_topics(timeout=timeout_s)
    except Exception:  # the broker is not answering yet: librdkafka raises KafkaException
        return False
    return bool(metadata.brokers)


def _probe_topic(broker: KafkaBroker) -> None:
    """A metadata answer can come before the controller accepts topics; creating one proves it does."""
    name = f"__ready-{uuid.uuid4().hex[:8]}"
    broker.create_topic(name, partitions=1)
    broker.delete_topic(name)


@contextmanager
def kafka_broker(
    root: Path = ROOT,
    *,
    workdir: Path | None = None,
    startup_timeout_s: float = 90,
    partitions: int = 3,
) -> Iterator[KafkaBroker]:
    jars = locked_jars(root, KAFKA_BROKER_LOCK)
    java = _java()
    owned = workdir is None
    folder = Path(tempfile.mkdtemp(prefix="kafka-broker-")) if workdir is None else workdir
    folder.mkdir(parents=True, exist_ok=True)
    process: subprocess.Popen[bytes] | None = None
    try:
        port, controller_port = free_port(), free_port()
        properties = folder / "server.properties"
        settings = server_properties(
            data_dir=folder / "data", port=port, controller_port=controller_port, partitions=partitions
        )
        properties.write_text(settings)
        base = [java, HEAP, "-Djava.awt.headless=true", "-cp", classpath(jars)]
        formatted = subprocess.run(
            [*base, "kafka.tools.StorageTool", "format", "-t", cluster_id(), "-c", str(properties)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if formatted.returncode != 0:
            raise BrokerError(f"formatting {folder / 'data'} failed: {(formatted.stdout + formatted.stderr)[-800:]}")
        log = folder / "broker.log"
        with log.open("wb") as out:
            # Its own process group: stopping it stops everything the JVM started.
            process = subprocess.Popen(
                [*base, "kafka.Kafka", str(properties)], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        broker = KafkaBroker(f"{HOST}:{port}", folder, process)
        deadline = time.monotonic() + startup_timeout_s
        while not _ready(broker.bootstrap, timeout_s=2):
            if process.poll() is not None:
                raise BrokerError(f"the broker exited with {process.returncode} while starting:\n{_tail(log)}")
            if time.monotonic() > deadline:
                raise BrokerError(f"the broker did not answer on {broker.bootstrap} in {startup_timeout_s:.0f} s")
            time.sleep(0.5)
        _probe_topic(broker)
        yield broker
    finally:
        if process is not None:
            stop_process_group(process, grace_s=15)
        if owned:
            shutil.rmtree(folder, ignore_errors=True)
