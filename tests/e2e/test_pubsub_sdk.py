"""Pub/sub end to end with the official SDK: FastAPI, Flask and gRPC subscribers, streaming subscribers
(sync and asyncio), publish over HTTP and gRPC, bulk publish, declarative subscriptions with CEL
routing and bulk delivery, dead letters and the app's RETRY/DROP/404/500 answers.

Brokers: Redis (127.0.0.1:6379) and the embedded ``pubsub.pydapr-sqlite``, with topic names unique
to the run. One sidecar per app, started once for the module; the streaming sidecar has no app.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.e2e.conftest import APPS
from tests.e2e.harness import Processes, Sidecar, free_port, records, wait_port

pytestmark = pytest.mark.e2e

RUN = "pse2e" + uuid.uuid4().hex[:8]
TOPIC_KEYS = ["orders", "dead", "routed", "bulk", "flask", "grpc", "grpc-dead", "grpc-routed", "grpc-bulk"]
TOPIC_KEYS += ["stream-sqlite", "stream-redis", "stream-async", "stream-dead"]
TOPICS = {k: f"{RUN}-{k}" for k in TOPIC_KEYS}

COMPONENTS = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: redis
spec:
  type: pubsub.redis
  version: v1
  metadata:
  - name: redisHost
    value: 127.0.0.1:6379
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: sqlite
spec:
  type: pubsub.pydapr-sqlite
  version: v1
  metadata:
  - name: path
    value: {db}
  - name: pollInterval
    value: 50ms
"""

SUBSCRIPTIONS = """\
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: routed
spec:
  pubsubname: redis
  topic: {routed}
  routes:
    rules:
    - match: event.type == "big"
      path: /routed/big
    - match: event.data.kind == "gift"
      path: /routed/gift
    default: /routed/default
scopes:
- fastapi-sub
---
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: bulk
spec:
  pubsubname: redis
  topic: {bulk}
  routes:
    default: /bulk
  deadLetterTopic: {dead}
  bulkSubscribe:
    enabled: true
    maxMessagesCount: 5
    maxAwaitDurationMs: 300
scopes:
- fastapi-sub
"""


@dataclass
class Mesh:
    procs: Processes
    fastapi: Sidecar
    flask: Sidecar
    grpc: Sidecar
    streamer: Sidecar  # no app: publishes, and serves the streaming subscribers
    record: Path

    def seen(self, app: str | None = None, route: str | None = None) -> list[dict[str, Any]]:
        out = records(self.record)
        return [r for r in out if (app is None or r["app"] == app) and (route is None or r["route"] == route)]


def _start(
    procs: Processes, app_id: str, script: str, protocol: str, resources: Path, env: dict[str, str]
) -> Sidecar:
    port = free_port()
    app = procs.app(app_id, APPS / script, env=env, args=[str(port)])
    wait_port(port, proc=app)
    sidecar = procs.sidecar(app_id, app_port=port, app_protocol=protocol, resources=resources, wait=False)
    return sidecar


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    workdir = tmp_path_factory.mktemp("pubsub-sdk")
    home = workdir / "home"
    home.mkdir()
    resources = workdir / "resources"
    resources.mkdir()
    (resources / "components.yaml").write_text(COMPONENTS.format(db=workdir / "broker.db"))
    (resources / "subscriptions.yaml").write_text(SUBSCRIPTIONS.format(**TOPICS))
    record = workdir / "record.jsonl"
    env = {"TOPICS": json.dumps(TOPICS), "RECORD": str(record)}
    procs = Processes(home=home, workdir=workdir)
    try:
        fastapi = _start(procs, "fastapi-sub", "pubsub_fastapi_app.py", "http", resources, env)
        flask = _start(procs, "flask-sub", "pubsub_flask_app.py", "http", resources, env)
        grpc_ = _start(procs, "grpc-sub", "pubsub_grpc_app.py", "grpc", resources, env)
        streamer = procs.sidecar("streamer", resources=resources, wait=False)
        for sidecar in (fastapi, flask, grpc_, streamer):
            procs.wait_healthy(sidecar)  # healthy = subscriptions are running
        yield Mesh(procs, fastapi, flask, grpc_, streamer, record)
    finally:
        procs.stop_all()
        client = redis.Redis(host="127.0.0.1", port=6379)
        for topic in TOPICS.values():
            client.delete(topic)
        client.close()


def wait_until(check: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.05)


def http_publish(sidecar: Sidecar, pubsub: str, topic: str, body: Any, query: str = "") -> int:
    req = urllib.request.Request(
        f"{sidecar.url}/v1.0/publish/{pubsub}/{topic}{query}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def metadata(sidecar: Sidecar) -> dict[str, Any]:
    with urllib.request.urlopen(f"{sidecar.url}/v1.0/metadata", timeout=5) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def datas(records: list[dict[str, Any]]) -> list[Any]:
    return [r["event"]["data"] for r in records]


# --- HTTP subscribers -----------------------------------------------------------------------------
def test_fastapi_subscriber_gets_http_and_grpc_publishes(mesh: Mesh, dapr_settings: Any) -> None:
    from dapr.clients import DaprClient

    assert http_publish(mesh.streamer, "redis", TOPICS["orders"], {"n": 1}) == 204
    dapr_settings(mesh.streamer)
    with DaprClient(address=f"127.0.0.1:{mesh.streamer.grpc_port}") as client:
        client.publish_event(
            "redis", TOPICS["orders"], json.dumps({"n": 2}), data_content_type="application/json"
        )
    got = wait_until(lambda: len(mesh.seen("fastapi", "orders")) >= 2 and mesh.seen("fastapi", "orders"))
    assert sorted(d["n"] for d in datas(got)) == [1, 2]
    event = got[0]["event"]
    assert event["specversion"] == "1.0" and event["source"] == "streamer"
    assert event["topic"] == TOPICS["orders"] and event["pubsubname"] == "redis"
    assert got[0]["content_type"] == "application/cloudevents+json"
    # daprd passes the message metadata on as headers, the pub/sub name among them.
    assert got[0]["pubsubname"] == "redis"


def test_app_answers_retry_500_drop_404_as_dapr_reads_them(mesh: Mesh) -> None:
    for answer in ("retry-once", "500-once", "drop", "404", "retry"):
        assert http_publish(mesh.streamer, "redis", TOPICS["orders"], {"answer": answer}) == 204

    def calls(answer: str) -> int:
        return len([r for r in mesh.seen("fastapi", "orders") if r["event"]["data"].get("answer") == answer])

    # RETRY and 500 are delivered again and then succeed; DROP and 404 are not retried; a
    # RETRY every time is retried 3 times. Dropped and exhausted events reach the dead letters.
    dead = wait_until(lambda: len(mesh.seen("fastapi", "dead")) >= 3 and mesh.seen("fastapi", "dead"))
    assert sorted(d["answer"] for d in datas(dead)) == ["404", "drop", "retry"]
    assert (calls("retry-once"), calls("500-once"), calls("drop"), calls("404"), calls("retry")) == (
        2,
        2,
        1,
        1,
        3,
    )
    assert dead[0]["event"]["topic"] == TOPICS["orders"]  # the original CloudEvent, as it came


def test_declarative_subscription_routes_with_cel(mesh: Mesh, dapr_settings: Any) -> None:
    assert http_publish(mesh.streamer, "redis", TOPICS["routed"], {"kind": "gift"}) == 204
    assert http_publish(mesh.streamer, "redis", TOPICS["routed"], {"kind": "plain"}) == 204
    assert (
        http_publish(
            mesh.streamer, "redis", TOPICS["routed"], {"kind": "gift"}, "?metadata.cloudevent.type=big"
        )
        == 204
    )

    def routed_events() -> list[dict[str, Any]]:
        return [r for r in mesh.seen("fastapi") if r["route"].startswith("routed/")]

    routed = wait_until(lambda: len(routed_events()) >= 3 and routed_events(), what="routed events")
    by_route = {r["route"]: r["event"] for r in routed}
    assert by_route["routed/big"]["type"] == "big"  # first matching rule wins
    assert by_route["routed/gift"]["data"] == {"kind": "gift"}
    assert by_route["routed/default"]["data"] == {"kind": "plain"}
    subs = {(s["topic"], s["type"]) for s in metadata(mesh.fastapi).get("subscriptions", [])}
    assert (TOPICS["routed"], "DECLARATIVE") in subs and (TOPICS["orders"], "PROGRAMMATIC") in subs
    # The same over gRPC, as the SDK's get_metadata shows it.
    from dapr.clients import DaprClient
    from dapr.proto.runtime.v1 import metadata_pb2

    dapr_settings(mesh.fastapi)
    with DaprClient(address=f"127.0.0.1:{mesh.fastapi.grpc_port}") as client:
        stub_subs = client._stub.GetMetadata(metadata_pb2.GetMetadataRequest()).subscriptions
    kinds = {(s.topic, metadata_pb2.PubsubSubscriptionType.Name(s.type)) for s in stub_subs}
    assert (TOPICS["routed"], "DECLARATIVE") in kinds and (TOPICS["orders"], "PROGRAMMATIC") in kinds


def test_bulk_subscribe_delivers_batches_with_per_entry_statuses(mesh: Mesh, dapr_settings: Any) -> None:
    from dapr.clients import DaprClient

    dapr_settings(mesh.streamer)
    events = [json.dumps({"i": i}) for i in range(7)]
    events += [json.dumps({"i": 7, "answer": "retry-once"}), json.dumps({"i": 8, "answer": "drop"})]
    with DaprClient(address=f"127.0.0.1:{mesh.streamer.grpc_port}") as client:
        resp = client.publish_events("redis", TOPICS["bulk"], events, data_content_type="application/json")
    assert resp.failed_entries == []

    def bulk_seen() -> list[dict[str, Any]]:
        return [r for r in mesh.seen("fastapi", "bulk") if r["event"]["topic"] == TOPICS["bulk"]]

    wait_until(lambda: len(bulk_seen()) >= 10, what="bulk deliveries")  # 9 events, one retried
    dead = wait_until(lambda: [r for r in mesh.seen("fastapi", "dead") if r["event"]["data"].get("i") == 8])
    assert dead[0]["event"]["topic"] == TOPICS["bulk"]
    records = bulk_seen()
    assert sorted({r["event"]["data"]["i"] for r in records}) == list(range(9))
    assert [r["n"] for r in records if r["event"]["data"]["i"] == 7] == [1, 2]
    assert max(r["size"] for r in records) == 5  # maxMessagesCount
    assert len({r["batch"] for r in records}) < len(records)  # entries did share batches
    envelope = next(r for r in mesh.seen("fastapi", "bulk-envelope") if r["event"]["topic"] == TOPICS["bulk"])
    assert envelope["event"]["type"] == "com.dapr.event.sent.bulk"
    assert envelope["event"]["pubsubname"] == "redis"
    assert envelope["content_type"] == "application/json"
    # daprd's bulk ingress metrics on the subscriber's sidecar: the entries by the app's answers
    # (seven taken, the eighth taken on its retry, the ninth dropped), and one count per batch.
    labels = {"app_id": "fastapi-sub", "component": "redis", "namespace": "default", "topic": TOPICS["bulk"]}
    samples = _metric_samples(mesh.fastapi)

    def sample(name: str, process_status: str) -> float:
        return samples.get((name, frozenset({**labels, "process_status": process_status}.items())), 0.0)

    events = "dapr_component_pubsub_ingress_bulk_event_count"
    by_status = {s: sample(events, s) for s in ("success", "retry", "drop")}
    assert by_status == {"success": 8.0, "retry": 1.0, "drop": 1.0}
    assert 2 <= sample("dapr_component_pubsub_ingress_bulk_count", "") <= 9
    # The entries are not counted again as single deliveries.
    single = "dapr_component_pubsub_ingress_count"
    assert not [k for k in samples if k[0] == single and ("topic", TOPICS["bulk"]) in k[1]]


def _metric_samples(sidecar: Sidecar) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The sidecar's /metrics samples as they are on the wire (port from its command line)."""
    args = list(sidecar.popen.args)  # type: ignore[arg-type]
    port = args[args.index("--metrics-port") + 1]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if "{" not in line:
            name, _, value = line.partition(" ")
            out[(name, frozenset())] = float(value)
            continue
        name, _, rest = line.partition("{")
        labels, _, value = rest.rpartition("} ")
        out[(name, frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels)))] = float(value)
    return out


def test_flask_subscriber(mesh: Mesh) -> None:
    assert http_publish(mesh.streamer, "sqlite", TOPICS["flask"], {"hello": "flask"}) == 204
    got = wait_until(lambda: mesh.seen("flask", "flask"))
    assert got[0]["event"]["data"] == {"hello": "flask"}
    assert got[0]["event"]["pubsubname"] == "sqlite"


# --- gRPC subscriber ------------------------------------------------------------------------------
def test_grpc_subscriber_retries_and_dead_letters(mesh: Mesh, dapr_settings: Any) -> None:
    from dapr.clients import DaprClient

    dapr_settings(mesh.streamer)
    with DaprClient(address=f"127.0.0.1:{mesh.streamer.grpc_port}") as client:
        for answer in ("ok", "raise-once", "retry-once", "drop"):
            client.publish_event(
                "sqlite", TOPICS["grpc"], json.dumps({"answer": answer}), data_content_type="application/json"
            )
    dead = wait_until(lambda: mesh.seen("grpc", "grpc-dead"))
    wait_until(lambda: len(mesh.seen("grpc", "grpc")) >= 6, what="gRPC deliveries")
    counts: dict[str, int] = {}
    for r in mesh.seen("grpc", "grpc"):
        counts[r["event"]["data"]["answer"]] = counts.get(r["event"]["data"]["answer"], 0) + 1
    assert counts == {"ok": 1, "raise-once": 2, "retry-once": 2, "drop": 1}
    assert dead[0]["event"]["data"] == {"answer": "drop"}
    first = mesh.seen("grpc", "grpc")[0]["event"]
    assert first["topic"] == TOPICS["grpc"] and first["pubsubname"] == "sqlite"
    assert first["datacontenttype"] == "application/json"


def test_grpc_subscriber_routing_rule_and_bulk(mesh: Mesh, dapr_settings: Any) -> None:
    from dapr.clients import DaprClient

    dapr_settings(mesh.streamer)
    with DaprClient(address=f"127.0.0.1:{mesh.streamer.grpc_port}") as client:
        client.publish_event(
            "sqlite", TOPICS["grpc-routed"], "x", publish_metadata={"cloudevent.type": "important"}
        )
        events = [json.dumps({"i": i}) for i in range(4)] + [json.dumps({"i": 4, "answer": "retry-once"})]
        client.publish_events("sqlite", TOPICS["grpc-bulk"], events, data_content_type="application/json")
    got = wait_until(lambda: mesh.seen("grpc", "important"))
    assert got[0]["event"]["type"] == "important" and got[0]["event"]["data"] == "x"
    wait_until(lambda: len(mesh.seen("grpc", "grpc-bulk")) >= 6, what="gRPC bulk deliveries")
    assert sorted(r["event"]["data"]["i"] for r in mesh.seen("grpc", "grpc-bulk")) == [0, 1, 2, 3, 4, 4]


# --- streaming subscribers ------------------------------------------------------------------------
def _streaming(mesh: Mesh) -> list[dict[str, Any]]:
    return [s for s in metadata(mesh.streamer).get("subscriptions", []) if s["type"] == "STREAMING"]


@pytest.mark.parametrize("pubsub", ["sqlite", "redis"])
def test_streaming_subscriber_reconnects_and_gets_what_it_missed(
    mesh: Mesh, dapr_settings: Any, pubsub: str
) -> None:
    from dapr.clients import DaprClient

    topic = TOPICS["stream-" + pubsub]
    dapr_settings(mesh.streamer)
    with DaprClient(address=f"127.0.0.1:{mesh.streamer.grpc_port}") as client:
        sub: Any = client.subscribe(pubsub, topic)
        try:
            assert [(s["pubsubname"], s["topic"]) for s in _streaming(mesh)] == [(pubsub, topic)]
            client.publish_event(pubsub, topic, json.dumps({"n": 0}), data_content_type="application/json")
            msg = sub.next_message()
            assert msg.data() == {"n": 0} and msg.topic() == topic and msg.pubsub_name() == pubsub
            sub.respond_success(msg)
        finally:
            sub.close()
        wait_until(lambda: _streaming(mesh) == [], what="the stream to end")
        for n in (1, 2, 3):  # published while nobody listens
            client.publish_event(pubsub, topic, json.dumps({"n": n}), data_content_type="application/json")
        sub = client.subscribe(pubsub, topic)
        try:
            got: list[int] = []
            while not {1, 2, 3} <= set(got) and len(got) < 6:
                msg = sub.next_message()
                got.append(msg.data()["n"])
                sub.respond_success(msg)
            time.sleep(0.2)  # the SDK's close() cancels the call at once: let the last answer go out
        finally:
            sub.close()
        # Everything published meanwhile; the first event again at most (its answer races close()).
        assert sorted(n for n in got if n) == [1, 2, 3] and got.count(0) <= 1
    wait_until(lambda: _streaming(mesh) == [], what="the stream to end")
    if pubsub == "redis":
        # No consumer of a stream is left behind in the app's group; at most the group's one parking
        # consumer, holding an event that was fetched but not answered when the client left.
        client_ = redis.Redis(host="127.0.0.1", port=6379)

        def leftovers() -> list[str]:
            names = [c["name"].decode() for c in client_.xinfo_consumers(topic, "streamer")]
            return [n for n in names if n != "streamer-parked"]

        try:
            wait_until(lambda: leftovers() == [], what="consumers removed")
        finally:
            client_.close()


def test_streaming_with_handler_retry_drop_and_dead_letter(mesh: Mesh, dapr_settings: Any) -> None:
    from dapr.clients import DaprClient
    from dapr.clients.grpc._response import TopicEventResponse

    topic, dead_topic = TOPICS["stream-async"] + "-h", TOPICS["stream-dead"]
    seen: list[tuple[str, int]] = []
    dead: list[Any] = []

    def handler(msg: Any) -> TopicEventResponse:
        data = msg.data()
        seen.append((data["answer"], len([s for s in seen if s[0] == data["answer"]]) + 1))
        if data["answer"] == "retry-once" and seen[-1][1] == 1:
            return TopicEventResponse("retry")
        if data["answer"] == "drop":
            return TopicEventResponse("drop")
        return TopicEventResponse("success")

    def on_dead(msg: Any) -> TopicEventResponse:
        dead.append(msg.data())
        return TopicEventResponse("success")

    dapr_settings(mesh.streamer)
    with DaprClient(address=f"127.0.0.1:{mesh.streamer.grpc_port}") as client:
        close = client.subscribe_with_handler("sqlite", topic, handler, dead_letter_topic=dead_topic)
        close_dead = client.subscribe_with_handler("sqlite", dead_topic, on_dead)
        try:
            for answer in ("ok", "retry-once", "drop"):
                client.publish_event(
                    "sqlite", topic, json.dumps({"answer": answer}), data_content_type="application/json"
                )
            wait_until(lambda: dead, what="the dead letter")
            wait_until(lambda: len(seen) >= 4, what="4 deliveries")
        finally:
            close()
            close_dead()
    assert sorted(seen) == [("drop", 1), ("ok", 1), ("retry-once", 1), ("retry-once", 2)]
    assert dead == [{"answer": "drop"}]
    wait_until(lambda: _streaming(mesh) == [], what="the streams to end")


async def test_async_streaming_subscriber(mesh: Mesh, dapr_settings: Any) -> None:
    from dapr.aio.clients import DaprClient

    topic = TOPICS["stream-async"]
    dapr_settings(mesh.streamer)
    async with DaprClient(address=f"127.0.0.1:{mesh.streamer.grpc_port}") as client:
        sub: Any = await client.subscribe("redis", topic)
        try:
            await client.publish_event("redis", topic, "one")
            await client.publish_event(
                "redis", topic, json.dumps({"two": 2}), data_content_type="application/json"
            )
            # Events come concurrently; the first one is answered RETRY and must come back.
            retried, ids = "", list[str]()
            while len(ids) < 3:
                msg = await sub.next_message()
                ids.append(msg.id())
                if not retried:
                    retried = msg.id()
                    await sub.respond_retry(msg)
                else:
                    await sub.respond_success(msg)
            assert ids.count(retried) == 2 and len(set(ids)) == 2
        finally:
            await sub.close()


def test_second_stream_on_one_topic_is_refused(mesh: Mesh, dapr_settings: Any) -> None:
    from dapr.clients import DaprClient

    topic = TOPICS["stream-sqlite"] + "-dup"
    dapr_settings(mesh.streamer)
    with DaprClient(address=f"127.0.0.1:{mesh.streamer.grpc_port}") as client:
        sub: Any = client.subscribe("sqlite", topic)
        try:
            with pytest.raises(Exception, match="already subscribed"):
                client.subscribe("sqlite", topic)
            with pytest.raises(Exception, match="not found"):
                client.subscribe("nosuch", topic)
        finally:
            sub.close()
