"""bindings.rabbitmq against the RabbitMQ at 127.0.0.1:5672 (guest/guest): publish with headers, TTL and
priority; input acknowledges only delivered events, requeues refused ones, and a durable queue hands
an unacknowledged event to the next reader (a restarted sidecar). Every queue is random and deleted."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aio_pika
import pytest

from pydapr.bindings.api import BindingsAPI
from pydapr.bindings.contract import BindingError, InvokeRequest, ReadEvent
from pydapr.bindings.rabbitmq import RabbitMQBinding
from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.components.registry import registry
from pydapr.errors import DaprError

URL = "amqp://guest:guest@127.0.0.1:5672/"

Opener = Callable[..., Awaitable[RabbitMQBinding]]


async def _queue_depth(name: str) -> int:
    connection = await aio_pika.connect(URL, timeout=5)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(name, passive=True)
        return int(queue.declaration_result.message_count or 0)


@pytest.fixture
async def queue() -> AsyncIterator[str]:
    name = f"pydapr-binding-{uuid.uuid4().hex[:12]}"
    yield name
    connection = await aio_pika.connect(URL, timeout=5)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(name)


@pytest.fixture
async def open_binding(tmp_path: Path, queue: str) -> AsyncIterator[Opener]:
    opened: list[RabbitMQBinding] = []

    async def open_(**props: str) -> RabbitMQBinding:
        binding = registry.create("bindings.rabbitmq", "v1")
        assert isinstance(binding, RabbitMQBinding)
        meta = {"host": URL, "queueName": queue, **props}
        await binding.init(ComponentMetadata("mq", "bindings.rabbitmq", "v1", meta, base_dir=tmp_path))
        opened.append(binding)
        return binding

    yield open_
    for binding in opened:
        await binding.close()


class Collector:
    """An input handler that records events; ``refuse`` makes the next N deliveries fail."""

    def __init__(self, refuse: int = 0) -> None:
        self.events: list[ReadEvent] = []
        self.attempts = 0
        self.refuse = refuse
        self.changed = asyncio.Event()

    async def __call__(self, event: ReadEvent) -> bytes:
        self.attempts += 1
        if self.refuse > 0:
            self.refuse -= 1
            raise RuntimeError("app refused")
        self.events.append(event)
        self.changed.set()
        return b""

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[ReadEvent]:
        async with asyncio.timeout(timeout):
            while len(self.events) < count:
                self.changed.clear()
                await self.changed.wait()
        return self.events


async def test_create_then_read_with_headers_and_content_type(open_binding: Opener, queue: str) -> None:
    binding = await open_binding(contentType="application/json")
    api = BindingsAPI({"mq": binding})
    await api.invoke("mq", InvokeRequest("create", b'{"n":1}', {"trace id": "a&b", "kind": "order"}))
    await api.invoke("mq", InvokeRequest("create", b"plain", {"contentType": "text/csv"}))
    assert await _queue_depth(queue) == 2
    got = Collector()
    await binding.read(got)
    first, second = await got.wait_for(2)
    assert first.data == b'{"n":1}' and second.data == b"plain"
    # Headers come back URL-query-escaped, as Dapr's binding passes them.
    assert first.metadata["trace+id"] == "a%26b" and first.metadata["kind"] == "order"
    assert second.metadata["contentType"] == "text%2Fcsv"
    await asyncio.sleep(0.2)
    assert await _queue_depth(queue) == 0


async def test_raw_message_properties(open_binding: Opener, queue: str) -> None:
    binding = await open_binding(maxPriority="5")
    await binding.invoke(InvokeRequest("create", b"x", {"ttlInSeconds": "60", "priority": "9"}))
    connection = await aio_pika.connect(URL, timeout=5)
    async with connection:
        channel = await connection.channel()
        q = await channel.declare_queue(queue, passive=True)
        message = await q.get(timeout=5)
        assert message is not None
        await message.ack()
    assert message.content_type == "text/plain"
    assert message.priority == 9 and message.expiration == 60
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT


async def test_refused_event_is_requeued_not_dropped(open_binding: Opener, queue: str) -> None:
    binding = await open_binding()
    await binding.invoke(InvokeRequest("create", b"one"))
    await binding.invoke(InvokeRequest("create", b"two"))
    got = Collector(refuse=2)
    await binding.read(got)
    events = await got.wait_for(2)
    assert sorted(e.data for e in events) == [b"one", b"two"]
    assert got.attempts == 4
    await asyncio.sleep(0.2)
    assert await _queue_depth(queue) == 0


async def test_message_ttl_expires_unread_messages(open_binding: Opener, queue: str) -> None:
    binding = await open_binding(ttlInSeconds="60")
    await binding.invoke(InvokeRequest("create", b"short", {"ttlInSeconds": "1"}))
    await binding.invoke(InvokeRequest("create", b"long"))
    await asyncio.sleep(1.3)
    got = Collector()
    await binding.read(got)
    assert [e.data for e in await got.wait_for(1)] == [b"long"]
    await asyncio.sleep(0.2)
    assert len(got.events) == 1


async def test_priority_queue_hands_out_high_priority_first(open_binding: Opener) -> None:
    binding = await open_binding(maxPriority="10", prefetchCount="1")
    for n, priority in (("low", "1"), ("mid", "5"), ("high", "9")):
        await binding.invoke(InvokeRequest("create", n.encode(), {"priority": priority}))
    got = Collector()
    await binding.read(got)
    assert [e.data for e in await got.wait_for(3)] == [b"high", b"mid", b"low"]


async def test_unacknowledged_event_survives_a_sidecar_restart(open_binding: Opener, queue: str) -> None:
    first = await open_binding(durable="true")
    first.close_grace = 0.2
    await first.invoke(InvokeRequest("create", b"precious"))
    started = asyncio.Event()

    async def stuck(event: ReadEvent) -> bytes:
        started.set()
        await asyncio.Event().wait()  # the app never answers; the sidecar stops meanwhile
        return b""

    await first.read(stuck)
    await asyncio.wait_for(started.wait(), 5)
    await first.close()
    assert await _queue_depth(queue) == 1
    second = await open_binding(durable="true")
    got = Collector()
    await second.read(got)
    assert [e.data for e in await got.wait_for(1)] == [b"precious"]
    await asyncio.sleep(0.2)
    assert await _queue_depth(queue) == 0


async def test_bad_request_metadata_and_config(open_binding: Opener, tmp_path: Path) -> None:
    binding = await open_binding()
    api = BindingsAPI({"mq": binding})
    with pytest.raises(DaprError, match="ttlInSeconds value must be a valid integer"):
        await api.invoke("mq", InvokeRequest("create", b"x", {"ttlInSeconds": "soon"}))
    with pytest.raises(DaprError, match="ttlInSeconds value must be higher than zero"):
        await api.invoke("mq", InvokeRequest("create", b"x", {"ttlInSeconds": "0"}))
    with pytest.raises(DaprError, match="supported operations:create"):
        await api.invoke("mq", InvokeRequest("get"))
    for props, field in (({"queueName": "q"}, "host"), ({"host": URL}, "queueName")):
        bad = RabbitMQBinding()
        with pytest.raises(ComponentConfigError) as err:
            await bad.init(ComponentMetadata("mq", "bindings.rabbitmq", "v1", props, base_dir=tmp_path))
        assert err.value.field_name == field
    await binding.close()
    with pytest.raises(BindingError, match="not open"):
        await binding.invoke(InvokeRequest("create", b"x"))
