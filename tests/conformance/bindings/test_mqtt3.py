"""bindings.mqtt3 against the Mosquitto at 127.0.0.1:1883: publish to the component's or the request's
topic, retained messages, input acknowledged only after delivery (a persistent session hands an
undelivered message to the restarted reader), backOffMaxRetries, config errors. Topics are random."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiomqtt
import pytest

from pydapr.bindings.api import BindingsAPI
from pydapr.bindings.contract import BindingError, InvokeRequest, ReadEvent
from pydapr.bindings.mqtt3 import MQTTBinding
from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.components.registry import registry
from pydapr.errors import DaprError

URL = "tcp://127.0.0.1:1883"

Opener = Callable[..., Awaitable[MQTTBinding]]


@pytest.fixture
def topic() -> str:
    return f"pydapr/binding/{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def open_binding(tmp_path: Path, topic: str) -> AsyncIterator[Opener]:
    opened: list[MQTTBinding] = []
    consumer = f"pydapr-test-{uuid.uuid4().hex[:8]}"

    async def open_(**props: str) -> MQTTBinding:
        binding = registry.create("bindings.mqtt3", "v1")
        assert isinstance(binding, MQTTBinding)
        meta = {"url": URL, "topic": topic, "consumerID": consumer, **props}
        await binding.init(ComponentMetadata("mq", "bindings.mqtt3", "v1", meta, base_dir=tmp_path))
        binding.close_grace = 0.2
        binding.retry_wait = 0.05
        opened.append(binding)
        return binding

    yield open_
    for binding in opened:
        await binding.close()
    # Leave no persistent session behind: connect with a clean session under each id used.
    for suffix in ("-consumer", "-producer"):
        async with aiomqtt.Client("127.0.0.1", 1883, identifier=consumer + suffix, clean_session=True):
            pass


class Collector:
    def __init__(self, refuse: int = 0) -> None:
        self.events: list[ReadEvent] = []
        self.attempts = 0
        self.refuse = refuse
        self.changed = asyncio.Event()

    async def __call__(self, event: ReadEvent) -> bytes:
        self.attempts += 1
        self.changed.set()
        if self.refuse > 0:
            self.refuse -= 1
            raise RuntimeError("app refused")
        self.events.append(event)
        return b""

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[ReadEvent]:
        async with asyncio.timeout(timeout):
            while len(self.events) < count:
                self.changed.clear()
                await self.changed.wait()
        return self.events


async def test_create_reaches_the_reader_with_topic_metadata(open_binding: Opener, topic: str) -> None:
    binding = await open_binding()
    got = Collector()
    await binding.read(got)
    api = BindingsAPI({"mq": binding})
    await api.invoke("mq", InvokeRequest("create", b'{"n":1}'))
    await api.invoke("mq", InvokeRequest("create", b"two"))
    events = await got.wait_for(2)
    assert [e.data for e in events] == [b'{"n":1}', b"two"]
    assert events[0].metadata == {"topic": topic}
    with pytest.raises(DaprError, match="supported operations:create"):
        await api.invoke("mq", InvokeRequest("get"))


async def test_request_topic_and_retain(open_binding: Opener, topic: str) -> None:
    binding = await open_binding()
    other = topic + "/other"
    await binding.invoke(InvokeRequest("create", b"kept", {"topic": other, "retain": "true"}))
    try:
        # A subscriber arriving later still gets the retained message.
        async with aiomqtt.Client("127.0.0.1", 1883) as client:
            await client.subscribe(other, qos=1)
            async with asyncio.timeout(5):
                message = await anext(aiter(client.messages))
        assert message.payload == b"kept" and message.retain
    finally:
        await binding.invoke(InvokeRequest("create", b"", {"topic": other, "retain": "true"}))


async def test_undelivered_message_comes_back_after_a_restart(open_binding: Opener) -> None:
    first = await open_binding()
    started = asyncio.Event()

    async def stuck(event: ReadEvent) -> bytes:
        started.set()
        await asyncio.Event().wait()  # the app never answers; the sidecar stops meanwhile
        return b""

    await first.read(stuck)
    await first.invoke(InvokeRequest("create", b"precious"))
    await asyncio.wait_for(started.wait(), 5)
    await first.close()
    second = await open_binding()
    got = Collector()
    await second.read(got)
    assert [e.data for e in await got.wait_for(1)] == [b"precious"]
    await second.close()
    # Acknowledged now: a third reader of the same session gets nothing more.
    third = await open_binding()
    again = Collector()
    await third.read(again)
    await asyncio.sleep(0.5)
    assert again.attempts == 0


async def test_backoff_max_retries(open_binding: Opener) -> None:
    binding = await open_binding(backOffMaxRetries="2")
    got = Collector(refuse=2)
    await binding.read(got)
    await binding.invoke(InvokeRequest("create", b"third time lucky"))
    assert [e.data for e in await got.wait_for(1)] == [b"third time lucky"]
    assert got.attempts == 3


async def test_config_errors_and_unreachable_broker(tmp_path: Path) -> None:
    base = {"url": URL, "topic": "t", "consumerID": "c"}
    for missing in ("url", "topic", "consumerID"):
        props = {k: v for k, v in base.items() if k != missing}
        with pytest.raises(ComponentConfigError) as err:
            await MQTTBinding().init(
                ComponentMetadata("mq", "bindings.mqtt3", "v1", props, base_dir=tmp_path)
            )
        assert err.value.field_name == missing
    with pytest.raises(ComponentConfigError):
        await MQTTBinding().init(
            ComponentMetadata("mq", "bindings.mqtt3", "v1", {**base, "url": "http://x"}, base_dir=tmp_path)
        )
    binding = MQTTBinding()
    props = {**base, "url": "tcp://127.0.0.1:1", "consumerID": "{uuid}"}
    await binding.init(ComponentMetadata("mq", "bindings.mqtt3", "v1", props, base_dir=tmp_path))
    assert binding.client_id != "{uuid}" and len(binding.client_id) == 36
    with pytest.raises(BindingError, match="failed to connect"):
        await binding.read(Collector())
    with pytest.raises(BindingError, match="failed to publish"):
        await binding.invoke(InvokeRequest("create", b"x"))
    await binding.close()
