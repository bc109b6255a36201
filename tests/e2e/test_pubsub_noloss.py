"""No message lost: real publishers, sidecars, apps and brokers as processes, one of them disrupted
in the middle of the run.

Each case publishes COUNT messages ``{"n": i}`` through a publisher sidecar's HTTP API (a separate
publisher process, ``apps/noloss_publisher.py``, retrying a publish until the sidecar answers 2xx),
to a subscriber app (``apps/noloss_subscriber.py``) behind its own sidecar that appends every
``n`` it handles to a file. Once about a third has been published, one of these is disrupted:

- ``app``: the subscriber app is killed (SIGKILL) and started again on the same port after 1 s;
- ``sidecar``: the subscriber's sidecar is killed (SIGKILL) and a new one started after 1 s;
- ``broker``: the broker process is stopped (SIGTERM, a clean restart) and started again on the same
  port and data directory after 1 s.

The test then waits until all COUNT distinct numbers arrived (generous deadline), prints
``delivered=N duplicates=D`` (D = handled more than once: at-least-once allows it) and fails if any
number is missing. Component settings shorten the crash-recovery timers (``processingTimeout`` 2 s
for SQLite and Redis, ``redeliverInterval`` 1 s for Redis, ``ackWait`` 3 s for JetStream), as a user
who wants fast recovery sets them; without that, the run waits out the 30-60 s defaults.

Brokers:
- ``app``/``sidecar`` cases use the shared Redis, RabbitMQ and NATS servers of the test machine, each
  with its own stream/queue/durable (removed afterwards), and a private SQLite file.
- ``broker`` cases start their own server on a free port in the test's temporary directory, so the
  restart disturbs nobody: Redis with ``--save "" --appendonly yes --dir <tmp>`` (the AOF keeps the
  streams and consumer groups across the restart; with no persistence at all a restarted Redis has
  nothing, and loss is then the broker's configuration, not pydapr's); NATS with ``-js -sd <tmp>``;
  a second RabbitMQ node (its own node name, AMQP and distribution ports, data and log directories;
  it boots in about 5 s here, so no need to fall back to ``rabbitmqctl close_all_connections`` on the
  shared node).
- MQTT runs all three cases, always against a private Mosquitto: QoS 1 with a persistent session
  (``cleanSession`` false) keeps what arrives while the subscriber's sidecar is away, but Mosquitto's
  default ``max_queued_messages 1000`` silently drops QoS 1 messages beyond 1000 queued for a client
  (offline, or with its in-flight window full), so a no-loss MQTT setup needs
  ``max_queued_messages 0``; the shared test server has the default. Its ``persistence true`` saves
  sessions and queued messages on a clean shutdown, which is what the broker case does.

Cost: COUNT is 10,000 in every case. The publisher runs at RATE messages/s, so the publish phase of a
case takes COUNT/RATE seconds; the suite runs the 14 cases in about 3-4 minutes on 2 cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.conftest import APPS
from tests.e2e.harness import Proc, Processes, Sidecar, free_port, wait_port

pytestmark = [pytest.mark.e2e, pytest.mark.serial]

COUNT = 10_000
RATE = 1000  # messages/s offered by the publisher
DISRUPT_AT = COUNT // 3  # published messages before the disruption
APP_DELAY_MS = 5  # the app's work per event: keeps about 5 events in flight at 1000/s
OUTAGE = 1.0  # seconds the disrupted process stays down
DELIVERY_DEADLINE = 120.0  # after the last publish

SHARED_REDIS = "127.0.0.1:6379"
SHARED_RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/"
SHARED_NATS = "nats://127.0.0.1:4222"

COMPONENT = """apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: noloss
spec:
  type: {type}
  version: v1
  metadata:
{items}
"""


# --- brokers --------------------------------------------------------------------------------------
@dataclass
class Broker:
    """One broker for one case: component metadata, and for a private server, how to restart it."""

    kind: str  # sqlite, redis, rabbitmq, jetstream, mqtt3
    type: str
    topic: str
    group: str
    metadata: dict[str, str]
    start: Callable[[], Proc] | None = None  # a private server: starts it (again)
    server: Proc | None = None
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def restart(self) -> None:
        assert self.start is not None and self.server is not None, f"{self.kind}: not a private server"
        self.server.stop()
        time.sleep(OUTAGE)
        self.server = self.start()


def _redis_server(procs: Processes, tmp: Path) -> tuple[int, Callable[[], Proc]]:
    port = free_port()
    data = tmp / "redis"
    data.mkdir()

    def start() -> Proc:
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "yes", "--dir", str(data)]
        proc = procs.spawn("redis", argv)
        wait_port(port, proc=proc)
        return proc

    return port, start


def _nats_server(procs: Processes, tmp: Path) -> tuple[int, Callable[[], Proc]]:
    port = free_port()
    store = tmp / "nats"
    store.mkdir()

    def start() -> Proc:
        proc = procs.spawn(
            "nats", ["nats-server", "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(store)]
        )
        wait_port(port, proc=proc)
        return proc

    return port, start


def _rabbitmq_server(procs: Processes, tmp: Path) -> tuple[int, Callable[[], Proc]]:
    port, dist_port = free_port(), free_port()
    base = tmp / "rabbitmq"
    base.mkdir()
    (base / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{port}\n")
    (base / "enabled_plugins").write_text("")  # no management plugin: its port is the shared node's
    env = {
        "HOME": str(base),  # the Erlang cookie
        "RABBITMQ_NODENAME": f"noloss{uuid.uuid4().hex[:8]}@localhost",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_FEATURE_FLAGS_FILE": str(base / "feature_flags"),
        "RABBITMQ_PID_FILE": str(base / "pid"),
    }

    def start() -> Proc:
        # The script under /usr/lib runs the node as the calling user (/usr/sbin's switches to the
        # rabbitmq user, which cannot write in this root-owned temporary directory).
        proc = procs.spawn("rabbitmq", ["/usr/lib/rabbitmq/bin/rabbitmq-server"], env)
        wait_port(port, timeout=60, proc=proc)
        return proc

    return port, start


def _mosquitto_server(procs: Processes, tmp: Path) -> tuple[int, Callable[[], Proc]]:
    port = free_port()
    base = tmp / "mosquitto"
    base.mkdir()
    conf = base / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence true\n"
        f"persistence_location {base}/\n"
        "max_queued_messages 0\n"  # the default, 1000, drops QoS 1 messages beyond it
        "user root\n"  # keep access to this root-owned directory
    )

    def start() -> Proc:
        proc = procs.spawn("mosquitto", ["mosquitto", "-c", str(conf)])
        wait_port(port, proc=proc)
        return proc

    return port, start


def _run(coro: object) -> None:
    with contextlib.suppress(Exception):
        asyncio.run(coro)  # type: ignore[arg-type]


async def _delete_rabbitmq(url: str, queue: str, exchange: str) -> None:
    import aio_pika

    conn = await aio_pika.connect(url, timeout=5)
    try:
        channel = await conn.channel()
        await channel.queue_delete(queue)
        await channel.exchange_delete(exchange)
    finally:
        await conn.close()


async def _delete_stream(url: str, stream: str) -> None:
    import nats

    nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        await nc.jetstream().delete_stream(stream)
    finally:
        await nc.close()


def make_broker(kind: str, private: bool, procs: Processes, tmp: Path) -> Broker:
    tag = uuid.uuid4().hex[:10]
    group = f"noloss-{tag}"
    if kind == "sqlite":
        meta = {"path": str(tmp / "broker.db"), "processingTimeout": "2s", "pollInterval": "50ms"}
        return Broker(kind, "pubsub.pydapr-sqlite", f"noloss-{tag}", group, meta)
    if kind == "redis":
        topic = f"noloss-{tag}"
        broker = Broker(kind, "pubsub.redis", topic, group, {})
        host = SHARED_REDIS
        if private:
            port, broker.start = _redis_server(procs, tmp)
            host = f"127.0.0.1:{port}"
        else:
            import redis

            def drop_stream() -> None:
                client = redis.Redis.from_url(f"redis://{SHARED_REDIS}")
                with contextlib.suppress(Exception):
                    client.delete(topic)
                client.close()

            broker.cleanups.append(drop_stream)
        broker.metadata = {"redisHost": host, "processingTimeout": "2s", "redeliverInterval": "1s"}
        return broker
    if kind == "rabbitmq":
        topic = f"noloss-{tag}"
        broker = Broker(kind, "pubsub.rabbitmq", topic, group, {})
        url = SHARED_RABBITMQ
        if private:
            port, broker.start = _rabbitmq_server(procs, tmp)
            url = f"amqp://guest:guest@127.0.0.1:{port}/"
        else:
            broker.cleanups.append(lambda: _run(_delete_rabbitmq(url, f"{group}-{topic}", topic)))
        broker.metadata = {"connectionString": url}
        return broker
    if kind == "jetstream":
        topic = f"noloss.{tag}"
        stream = f"noloss-{tag}"
        broker = Broker(kind, "pubsub.jetstream", topic, group, {})
        url = SHARED_NATS
        if private:
            port, broker.start = _nats_server(procs, tmp)
            url = f"nats://127.0.0.1:{port}"
        else:
            broker.cleanups.append(lambda: _run(_delete_stream(url, stream)))
        broker.metadata = {"natsURL": url, "streamName": stream, "subjects": topic, "ackWait": "3s"}
        return broker
    if kind == "mqtt3":
        broker = Broker(kind, "pubsub.mqtt3", f"noloss/{tag}", group, {})
        port, broker.start = _mosquitto_server(procs, tmp)
        broker.metadata = {"url": f"tcp://127.0.0.1:{port}", "qos": "1", "cleanSession": "false"}
        return broker
    raise ValueError(kind)


# --- the run --------------------------------------------------------------------------------------
@dataclass
class Run:
    procs: Processes
    broker: Broker
    resources: Path
    out: Path
    app_port: int
    sub_app: Proc | None = None
    sub_sidecar: Sidecar | None = None

    def start_app(self) -> Proc:
        env = {
            "APP_PORT": str(self.app_port),
            "PUBSUB": "noloss",
            "TOPIC": self.broker.topic,
            "OUT": str(self.out),
            "DELAY_MS": str(APP_DELAY_MS),
        }
        self.sub_app = self.procs.app("noloss-sub", APPS / "noloss_subscriber.py", env=env)
        wait_port(self.app_port, proc=self.sub_app)
        return self.sub_app

    def start_sidecar(self) -> Sidecar:
        side = self.procs.sidecar("noloss-sub", app_port=self.app_port, resources=self.resources, wait=False)
        self.sub_sidecar = side
        # Ready means every building block started, so the subscription is in place.
        self.procs.wait_healthy(side, "/v1.0/healthz", timeout=60)
        with urllib.request.urlopen(side.url + "/v1.0/metadata", timeout=5) as resp:
            subscribed = [s["topic"] for s in json.load(resp).get("subscriptions", [])]
        assert self.broker.topic in subscribed, side.log()
        return side

    def numbers(self) -> list[int]:
        try:
            text = self.out.read_text()
        except FileNotFoundError:
            return []
        # A line cut short by a kill is ignored; its event is delivered again.
        return [int(line) for line in text.split("\n")[:-1] if line.strip()]


def write_resources(broker: Broker, path: Path) -> None:
    path.mkdir()
    meta = {"consumerID": broker.group, **broker.metadata}
    items = "\n".join(f"  - name: {k}\n    value: {json.dumps(v)}" for k, v in meta.items())
    (path / "noloss.yaml").write_text(COMPONENT.format(type=broker.type, items=items))


def published_so_far(publisher: Proc) -> int:
    done = 0
    for line in publisher.log().splitlines():
        if line.startswith(("published ", "done ")):
            done = int(line.split()[1])
    return done


def wait_until(condition: Callable[[], bool], timeout: float, what: str, poll: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(poll)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


@pytest.fixture
def cleanups() -> Iterator[list[Callable[[], None]]]:
    todo: list[Callable[[], None]] = []
    yield todo
    for step in todo:
        step()


def run_case(
    kind: str, disruption: str, procs: Processes, tmp_path: Path, cleanups: list[Callable[[], None]]
) -> None:
    broker = make_broker(kind, private=disruption == "broker" or kind == "mqtt3", procs=procs, tmp=tmp_path)
    cleanups.extend(broker.cleanups)
    if broker.start is not None:
        broker.server = broker.start()
    resources = tmp_path / "resources"
    write_resources(broker, resources)
    run = Run(procs, broker, resources, tmp_path / "received.txt", free_port())

    # The subscription must exist before the first publish: a topic nobody subscribed to keeps nothing.
    run.start_app()
    run.start_sidecar()
    pub_sidecar = procs.sidecar("noloss-pub", resources=resources)
    env = {
        "DAPR_HTTP_PORT": str(pub_sidecar.http_port),
        "PUBSUB": "noloss",
        "TOPIC": broker.topic,
        "COUNT": str(COUNT),
        "RATE": str(RATE),
        "CONNECTIONS": "8",
    }
    started = time.monotonic()
    publisher = procs.app("noloss-publisher", APPS / "noloss_publisher.py", env=env)

    wait_until(lambda: published_so_far(publisher) >= DISRUPT_AT or not publisher.alive, 60, "publishing")
    assert publisher.alive, publisher.log()
    delivered_before = len(set(run.numbers()))
    if disruption == "app":
        assert run.sub_app is not None
        run.sub_app.signal(signal.SIGKILL)
        run.sub_app.popen.wait(5)
        time.sleep(OUTAGE)
        run.start_app()
    elif disruption == "sidecar":
        assert run.sub_sidecar is not None
        run.sub_sidecar.signal(signal.SIGKILL)
        run.sub_sidecar.popen.wait(5)
        time.sleep(OUTAGE)
        run.start_sidecar()
    else:
        broker.restart()
    back = time.monotonic()

    publisher.popen.wait(COUNT / RATE + 90)
    assert publisher.popen.returncode == 0, publisher.log()
    published_at = time.monotonic()
    expected = set(range(COUNT))
    deadline = time.monotonic() + DELIVERY_DEADLINE
    while time.monotonic() < deadline and not expected <= set(run.numbers()):
        time.sleep(0.2)
    complete_at = time.monotonic()
    time.sleep(1.0)  # late redeliveries count as duplicates too
    numbers = run.numbers()
    seen = Counter(numbers)
    missing = sorted(expected - seen.keys())
    duplicates = sum(c - 1 for c in seen.values())
    print(
        f"\n[{kind}/{disruption}] delivered={len(seen.keys() & expected)} duplicates={duplicates} "
        f"(handled {len(numbers)}; {delivered_before} before the disruption; publisher: "
        f"{publisher.log().splitlines()[-1]}; all delivered {complete_at - started:.1f} s after the "
        f"first publish, {complete_at - published_at:.1f} s after the last; back after "
        f"{back - started:.1f} s)"
    )
    assert not missing, (
        f"{len(missing)} of {COUNT} never delivered, e.g. {missing[:20]}\n"
        f"--- subscriber sidecar log (tail):\n{_tail(run.sub_sidecar)}\n"
        f"--- publisher sidecar log (tail):\n{_tail(pub_sidecar)}"
    )


def _tail(proc: Proc | None, lines: int = 40) -> str:
    return "\n".join(proc.log().splitlines()[-lines:]) if proc is not None else ""


@pytest.mark.timeout(180)
@pytest.mark.parametrize("kind", ["sqlite", "redis", "rabbitmq", "jetstream", "mqtt3"])
def test_app_restart(kind: str, cleanups: list[Callable[[], None]], procs: Processes, tmp_path: Path) -> None:
    run_case(kind, "app", procs, tmp_path, cleanups)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("kind", ["sqlite", "redis", "rabbitmq", "jetstream", "mqtt3"])
def test_sidecar_killed(
    kind: str, cleanups: list[Callable[[], None]], procs: Processes, tmp_path: Path
) -> None:
    run_case(kind, "sidecar", procs, tmp_path, cleanups)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("kind", ["redis", "jetstream", "rabbitmq", "mqtt3"])
def test_broker_restart(
    kind: str, cleanups: list[Callable[[], None]], procs: Processes, tmp_path: Path
) -> None:
    run_case(kind, "broker", procs, tmp_path, cleanups)


def test_sqlite_concurrent_bulk_and_single_publishes(
    cleanups: list[Callable[[], None]], procs: Processes, tmp_path: Path
) -> None:
    """Every publish the sidecar acknowledged (2xx) reaches the subscriber, with bulk publishes of 10
    and single publishes in flight together, as several publishers of one sidecar cause.

    Regression: bulk_publish of pubsub.pydapr-sqlite ran BEGIN IMMEDIATE / COMMIT / ROLLBACK on the
    connection all other publishes and acks share, so concurrent requests joined or rolled back each
    other's transactions; here 216 of 1450 acknowledged publishes were lost."""
    broker = make_broker("sqlite", private=False, procs=procs, tmp=tmp_path)
    resources = tmp_path / "resources"
    write_resources(broker, resources)
    run = Run(procs, broker, resources, tmp_path / "received.txt", free_port())
    run.start_app()
    run.start_sidecar()
    pub = procs.sidecar("noloss-pub", resources=resources)
    acknowledged = asyncio.run(_publish_mixed(pub, broker.topic, batches=100, singles=1000))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not acknowledged <= set(run.numbers()):
        time.sleep(0.2)
    lost = acknowledged - set(run.numbers())
    assert not lost, f"{len(lost)} of {len(acknowledged)} acknowledged publishes never delivered"


async def _publish_mixed(sidecar: Sidecar, topic: str, batches: int, singles: int) -> set[int]:
    import aiohttp

    acknowledged: set[int] = set()
    base = f"{sidecar.url}/v1.0"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16)) as session:

        async def bulk(b: int) -> None:
            numbers = range(b * 10, b * 10 + 10)
            entries = [
                {"entryId": str(n), "event": {"n": n}, "contentType": "application/json"} for n in numbers
            ]
            async with session.post(f"{base}-alpha1/publish/bulk/noloss/{topic}", json=entries) as resp:
                await resp.read()
                if 200 <= resp.status < 300:
                    acknowledged.update(numbers)

        async def single(n: int) -> None:
            async with session.post(f"{base}/publish/noloss/{topic}", json={"n": n}) as resp:
                await resp.read()
                if 200 <= resp.status < 300:
                    acknowledged.add(n)

        jobs = []
        for b in range(batches):
            jobs.append(bulk(b))
            jobs += [single(batches * 10 + b * (singles // batches) + k) for k in range(singles // batches)]
        await asyncio.gather(*jobs)
    return acknowledged
