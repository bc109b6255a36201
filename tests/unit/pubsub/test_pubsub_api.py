"""PubSubAPI and its HTTP routes over the in-memory broker: envelopes, raw payloads, TTL, errors."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import pytest

from pydapr.api.http import pubsub as http_pubsub
from pydapr.api.http.router import Router
from pydapr.components.base import ComponentMetadata
from pydapr.errors import DaprError
from pydapr.http.messages import Headers, Request
from pydapr.pubsub import cloudevents as ce
from pydapr.pubsub.api import BulkEntry, PubSubAPI, Trace
from pydapr.pubsub.contract import Message, PubSub, SubscribeRequest
from pydapr.pubsub.memory import InMemoryPubSub

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def broker(**props: str) -> InMemoryPubSub:
    comp = InMemoryPubSub()
    await comp.init(
        ComponentMetadata("pubsub", "pubsub.in-memory", "v1", props, app_id="pub", base_dir=Path())
    )
    return comp


class Received:
    def __init__(self) -> None:
        self.items: list[Message] = []
        self.arrived = asyncio.Event()

    async def __call__(self, msg: Message) -> None:
        self.items.append(msg)
        self.arrived.set()

    async def one(self) -> Message:
        await asyncio.wait_for(self.arrived.wait(), 5)
        return self.items[0]


async def setup(topic: str = "orders", **props: str) -> tuple[PubSubAPI, Received, PubSub]:
    comp = await broker(**props)
    got = Received()
    await comp.subscribe(SubscribeRequest(topic), got)
    return PubSubAPI(lambda: {"pubsub": comp}, "pub"), got, comp


async def test_json_data_is_embedded_in_a_dapr_cloudevent() -> None:
    api, got, _ = await setup()
    await api.publish("pubsub", "orders", b'{"n": 1}', "application/json", {}, Trace(TRACEPARENT))
    msg = await got.one()
    assert msg.content_type == "application/cloudevents+json"
    event = json.loads(msg.data)
    assert event["data"] == {"n": 1}
    assert event["type"] == "com.dapr.event.sent"
    assert event["specversion"] == "1.0"
    assert event["source"] == "pub"
    assert event["topic"] == "orders" and event["pubsubname"] == "pubsub"
    assert event["datacontenttype"] == "application/json"
    assert event["traceparent"] == event["traceid"] == TRACEPARENT
    assert event["id"]


async def test_json_data_goes_out_compact_and_bad_json_as_text() -> None:
    data = '{"n": 1, "name": "é", "big": 123456789012345678901234567890}'.encode()
    compact = '{"n":1,"name":"é","big":123456789012345678901234567890}'.encode()
    sent = []
    for body in (data, b'{"n": ', b""):
        api, got, _ = await setup()
        await api.publish("pubsub", "orders", body, "application/json; charset=utf-8", {})
        sent.append(await got.one())
    whole, bad, empty = sent
    assert compact in whole.data  # as daprd writes it: no whitespace, the values' text as sent
    event = json.loads(whole.data)
    assert event["data"] == {"n": 1, "name": "é", "big": 123456789012345678901234567890}
    assert json.loads(bad.data)["data"] == '{"n": '
    assert json.loads(empty.data)["data"] is None


def test_envelope_ids_and_time() -> None:
    import re
    import uuid
    from datetime import UTC, datetime

    ids = {ce.new_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(uuid.UUID(i).version == 4 and str(uuid.UUID(i)) == i for i in ids)
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", ce.new_traceparent())
    stamp = datetime.fromisoformat(ce.now_rfc3339().replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 2


async def test_text_and_binary_data() -> None:
    api, got, _ = await setup()
    await api.publish("pubsub", "orders", b"hello", "", {})
    await api.publish("pubsub", "orders", b"\x00\x01", "application/octet-stream", {})
    await got.one()
    await asyncio.sleep(0.05)
    text, binary = (json.loads(m.data) for m in got.items)
    assert text["data"] == "hello" and text["datacontenttype"] == "text/plain"
    assert base64.b64decode(binary["data_base64"]) == b"\x00\x01"
    assert text["traceparent"].startswith("00-")  # a publish without trace context starts one


async def test_a_users_cloudevent_is_passed_through() -> None:
    api, got, _ = await setup()
    mine = {"id": "my-id", "source": "me", "type": "my.type", "specversion": "1.0", "data": {"x": 1}}
    await api.publish("pubsub", "orders", json.dumps(mine).encode(), "application/cloudevents+json", {})
    event = json.loads((await got.one()).data)
    assert (event["id"], event["source"], event["type"], event["data"]) == (
        "my-id",
        "me",
        "my.type",
        {"x": 1},
    )
    assert event["topic"] == "orders" and event["pubsubname"] == "pubsub"


async def test_cloudevent_fields_from_metadata() -> None:
    api, got, _ = await setup()
    await api.publish(
        "pubsub", "orders", b"{}", "application/json", {"cloudevent.id": "x1", "cloudevent.type": "t"}
    )
    event = json.loads((await got.one()).data)
    assert (event["id"], event["type"]) == ("x1", "t")


async def test_raw_payload_is_sent_as_is() -> None:
    api, got, _ = await setup()
    await api.publish("pubsub", "orders", b"plain bytes", "text/plain", {"rawPayload": "true"})
    assert (await got.one()).data == b"plain bytes"


async def test_ttl_is_left_to_a_broker_that_has_it() -> None:
    api, got, _ = await setup()
    await api.publish("pubsub", "orders", b"{}", "application/json", {"ttlInSeconds": "30"})
    assert "expiration" not in json.loads((await got.one()).data)


def test_expiration_is_stamped_and_checked() -> None:
    event: dict[str, object] = {}
    ce.set_expiration(event, 60)
    assert not ce.has_expired(event)
    event["expiration"] = "2001-01-01T00:00:00Z"
    assert ce.has_expired(event)


@pytest.mark.parametrize(
    ("pubsub", "topic", "meta", "code", "status"),
    [
        ("nope", "orders", {}, "ERR_PUBSUB_NOT_FOUND", 404),
        ("", "orders", {}, "ERR_PUBSUB_EMPTY", 404),
        ("pubsub", "", {}, "ERR_TOPIC_EMPTY", 404),
        ("pubsub", "orders", {"ttlInSeconds": "soon"}, "ERR_PUBSUB_REQUEST_METADATA", 400),
        ("pubsub", "orders", {"rawPayload": "maybe"}, "ERR_PUBSUB_REQUEST_METADATA", 400),
    ],
)
async def test_bad_requests(pubsub: str, topic: str, meta: dict[str, str], code: str, status: int) -> None:
    api, _, _ = await setup()
    with pytest.raises(DaprError) as err:
        await api.publish(pubsub, topic, b"{}", "application/json", meta)
    assert (err.value.code, err.value.http_status) == (code, status)


async def test_no_pubsub_configured() -> None:
    api = PubSubAPI(dict, "pub")
    with pytest.raises(DaprError) as err:
        await api.publish("pubsub", "orders", b"{}", "application/json", {})
    assert (err.value.code, err.value.http_status) == ("ERR_PUBSUB_NOT_CONFIGURED", 400)


async def test_publishing_scopes() -> None:
    api, _, _ = await setup(publishingScopes="pub=orders", allowedTopics="orders,audit")
    await api.publish("pubsub", "orders", b"{}", "application/json", {})
    with pytest.raises(DaprError) as err:
        await api.publish("pubsub", "audit", b"{}", "application/json", {})
    assert (err.value.code, err.value.http_status) == ("ERR_PUBSUB_FORBIDDEN", 403)


async def test_bulk_publish_entries() -> None:
    api, got, _ = await setup()
    entries = [BulkEntry(str(i), json.dumps({"i": i}).encode(), "application/json") for i in range(5)]
    assert await api.bulk_publish("pubsub", "orders", entries, {}) == []
    await got.one()
    await asyncio.sleep(0.05)
    assert sorted(json.loads(m.data)["data"]["i"] for m in got.items) == [0, 1, 2, 3, 4]
    with pytest.raises(DaprError) as err:
        await api.bulk_publish("pubsub", "orders", [BulkEntry("a", b"1", ""), BulkEntry("a", b"2", "")], {})
    assert err.value.code == "ERR_PUBSUB_EVENTS_SER"


async def test_http_routes() -> None:
    api, got, _ = await setup()
    router = Router()
    http_pubsub.register(router, api)
    found = router.match("POST", "/v1.0/publish/pubsub/orders")
    assert found is not None
    handler, params = found
    req = Request(
        "POST",
        "/v1.0/publish/pubsub/orders",
        "metadata.cloudevent.id=abc",
        Headers([("content-type", "application/json"), ("traceparent", TRACEPARENT)]),
        b'{"a": 1}',
    )
    resp = await handler(req, params)
    assert resp.status == 204
    event = json.loads((await got.one()).data)
    assert (event["id"], event["traceparent"], event["data"]) == ("abc", TRACEPARENT, {"a": 1})

    found = router.match("POST", "/v1.0-alpha1/publish/bulk/pubsub/orders")
    assert found is not None
    handler, params = found
    body = json.dumps(
        [
            {"entryId": "1", "event": {"k": "v"}, "contentType": "application/json"},
            {"entryId": "2", "event": "text", "contentType": "text/plain"},
        ]
    ).encode()
    resp = await handler(
        Request("POST", "/v1.0-alpha1/publish/bulk/pubsub/orders", "", Headers(), body), params
    )
    assert resp.status == 204
    await asyncio.sleep(0.05)
    datas = [json.loads(m.data)["data"] for m in got.items[1:]]
    assert sorted(map(str, datas)) == sorted(map(str, [{"k": "v"}, "text"]))
