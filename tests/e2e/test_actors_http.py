"""Actors over the Dapr HTTP API, with apps written with the official SDK
(tests/e2e/apps/actor_http_app.py, ``dapr.ext.fastapi.DaprActor``), ``pydapr placement`` and a
Redis actor state store; the client is the SDK's ``ActorProxy`` (and plain HTTP for bad input).

What a user sees: method calls and their results, state saved by the actor and read back, a timer
that fires, calls to one actor id taking turns while calls to two ids run side by side, a
reentrant call that gets into the turn, idle deactivation, actors spread over two hosting sidecars
and reached from a third app that hosts none, and daprd's error codes for bad input.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from dapr.actor import ActorId, ActorInterface, ActorProxy, actormethod
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprInternalError

from tests.e2e.actor_mesh import (
    APPS,
    ActorHost,
    read_jsonl,
    redis_actor_store,
    start_host,
    start_placement,
    wait_placement,
)
from tests.e2e.harness import Processes, Sidecar

pytestmark = pytest.mark.e2e

APP = APPS / "actor_http_app.py"


class CounterActorInterface(ActorInterface):
    @actormethod(name="Add")
    async def add(self, n: int) -> int: ...

    @actormethod(name="Total")
    async def total(self) -> int: ...

    @actormethod(name="Hold")
    async def hold(self, ms: int) -> dict[str, float]: ...

    @actormethod(name="StartTimer")
    async def start_timer(self) -> None: ...

    @actormethod(name="Ticks")
    async def ticks(self) -> int: ...

    @actormethod(name="Reenter")
    async def reenter(self) -> str: ...

    @actormethod(name="Whoami")
    async def whoami(self) -> str: ...

    @actormethod(name="Fail")
    async def fail(self) -> None: ...


def http(sidecar: Sidecar, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(sidecar.url + path, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def error_code(body: bytes) -> str:
    return str(json.loads(body)["errorCode"])


def counter(actor_id: str) -> Any:
    return ActorProxy.create("CounterActor", ActorId(actor_id), CounterActorInterface)


@pytest.fixture
def app_id() -> Iterator[str]:
    """A fresh app id (the actor state keys start with it); its Redis keys are deleted after."""
    name = f"actors-http-{uuid.uuid4().hex[:8]}"
    yield name
    client = redis.Redis(host="127.0.0.1", port=6379)
    keys = list(client.scan_iter(f"{name}||*"))
    if keys:
        client.delete(*keys)


@pytest.fixture
def placement(procs: Processes) -> str:
    _, address = start_placement(procs, "p0", f"sqlite://{procs.workdir}/placement.db")
    return address


def host(procs: Processes, placement: str, app_id: str, name: str = "h1") -> ActorHost:
    resources = procs.workdir / "resources"
    redis_actor_store(resources)
    return start_host(
        procs,
        name=name,
        app_id=app_id,
        script=APP,
        placement=[placement],
        resources=resources,
        actor_type="CounterActor",
    )


@pytest.mark.timeout(120)
async def test_calls_state_timer_reentrancy_through_the_sdk(procs, placement, app_id, dapr_settings) -> None:  # type: ignore[no-untyped-def]
    h1 = host(procs, placement, app_id)
    dapr_settings(h1.sidecar)
    actor = counter("c1")

    assert await actor.Add(5) == 5
    assert await actor.Add(2) == 7
    assert await actor.Total() == 7
    # The state the actor saved, read through the actor state API, under Dapr's key layout.
    assert http(h1.sidecar, "GET", "/v1.0/actors/CounterActor/c1/state/total") == (200, b"7")
    assert redis.Redis(host="127.0.0.1", port=6379).hget(f"{app_id}||CounterActor||c1||total", "data") == b"7"
    assert http(h1.sidecar, "GET", "/v1.0/actors/CounterActor/c1/state/missing") == (204, b"")
    # The metadata API counts the active actors per type, over HTTP and gRPC.
    meta = json.loads(http(h1.sidecar, "GET", "/v1.0/metadata")[1])
    assert {"type": "CounterActor", "count": 1} in meta["actors"]
    with DaprClient() as client:
        assert client.get_metadata().active_actors_count["CounterActor"] == 1

    # Reentrancy: the actor calls itself; the nested call joins the turn instead of waiting on it.
    assert await asyncio.wait_for(actor.Reenter(), 15) == "reentered:7"

    # A failed actor method: daprd's ERR_ACTOR_INVOKE_METHOD with the app's answer in the message.
    with pytest.raises(DaprInternalError) as info:
        await actor.Fail()
    assert info.value.error_code == "ERR_ACTOR_INVOKE_METHOD"
    assert "the actor method failed on purpose" in str(info.value)

    # A timer: due at once, every 200 ms, its callback counting ticks in the actor's state.
    await actor.StartTimer()
    deadline = time.monotonic() + 10
    ticks = 0
    while time.monotonic() < deadline and ticks < 3:
        await asyncio.sleep(0.2)
        ticks = await actor.Ticks()
    assert ticks >= 3
    status, _ = http(h1.sidecar, "DELETE", "/v1.0/actors/CounterActor/c1/timers/tick")
    assert status == 204
    await asyncio.sleep(0.3)
    stopped = await actor.Ticks()
    await asyncio.sleep(0.6)
    assert await actor.Ticks() == stopped


@pytest.mark.timeout(120)
async def test_one_actor_takes_turns_two_run_side_by_side(procs, placement, app_id, dapr_settings) -> None:  # type: ignore[no-untyped-def]
    h1 = host(procs, placement, app_id)
    dapr_settings(h1.sidecar)
    first, second, other = await asyncio.gather(
        counter("t1").Hold(400), counter("t1").Hold(400), counter("t2").Hold(400)
    )
    a, b = sorted((first, second), key=lambda r: r["start"])
    assert a["end"] <= b["start"], (a, b)  # one id: the second call started after the first ended
    assert other["start"] < a["end"] and a["start"] < other["end"], (a, other)  # two ids: overlap


@pytest.mark.timeout(120)
async def test_idle_actor_is_deactivated(procs, placement, app_id) -> None:  # type: ignore[no-untyped-def]
    h1 = host(procs, placement, app_id)
    assert http(h1.sidecar, "PUT", "/v1.0/actors/IdleActor/i1/method/Ping") == (200, b'"pong"')
    # IdleActor: actorIdleTimeout 2s, actorScanInterval 1s.
    deadline = time.monotonic() + 10
    events: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        events = [e for e in read_jsonl(h1.log) if e["id"] == "i1"]
        if any(e["ev"] == "deactivate" for e in events):
            break
        await asyncio.sleep(0.2)
    assert [e["ev"] for e in events] == ["activate", "deactivate"]
    took = events[1]["t"] - events[0]["t"]
    assert 2.0 <= took <= 5.0
    meta = json.loads(http(h1.sidecar, "GET", "/v1.0/metadata")[1])
    assert {"type": "IdleActor", "count": 0} in meta["actorRuntime"]["activeActors"]


@pytest.mark.timeout(150)
async def test_two_hosts_and_a_caller_without_actors(procs, placement, app_id) -> None:  # type: ignore[no-untyped-def]
    hosts = [host(procs, placement, app_id, name) for name in ("h1", "h2")]
    caller = procs.sidecar(f"caller-{uuid.uuid4().hex[:6]}", args=["--placement-host-address", placement])
    wait_placement(caller)
    ran_on: dict[str, str] = {}
    deadline = time.monotonic() + 30
    ids = [f"spread-{i}" for i in range(24)]
    while time.monotonic() < deadline:
        ran_on = {}
        for actor_id in ids:
            status, body = http(caller, "PUT", f"/v1.0/actors/CounterActor/{actor_id}/method/Whoami")
            assert status == 200, body
            ran_on[actor_id] = json.loads(body)
        if set(ran_on.values()) == {"h1", "h2"}:
            break
        await asyncio.sleep(0.5)  # the second host may not be in every sidecar's table yet
    assert set(ran_on.values()) == {"h1", "h2"}, ran_on
    # Each id stays where it is, whichever sidecar the call enters by.
    for actor_id in ids[:8]:
        for entry in (caller, hosts[0].sidecar, hosts[1].sidecar):
            _, body = http(entry, "PUT", f"/v1.0/actors/CounterActor/{actor_id}/method/Whoami")
            assert json.loads(body) == ran_on[actor_id]
    # State moves with the actor, not with the entry sidecar.
    assert http(caller, "PUT", "/v1.0/actors/CounterActor/spread-0/method/Add", b"3")[0] == 200
    assert http(hosts[1].sidecar, "PUT", "/v1.0/actors/CounterActor/spread-0/method/Total") == (200, b"3")


@pytest.mark.timeout(120)
async def test_bad_input_gets_daprs_errors(procs, placement, app_id) -> None:  # type: ignore[no-untyped-def]
    h1 = host(procs, placement, app_id)
    side = h1.sidecar
    # No sidecar hosts the type: daprd looks it up for a few seconds, then answers this.
    status, body = http(side, "PUT", "/v1.0/actors/NoSuchType/1/method/Go")
    assert status == 500 and error_code(body) == "ERR_ACTOR_INVOKE_METHOD", body
    assert b"did not find address for actor" in body

    # A transaction for an actor that is not active here.
    upsert = b'[{"operation":"upsert","request":{"key":"k1","value":"v1"}}]'
    status, body = http(side, "POST", "/v1.0/actors/CounterActor/b1/state", upsert)
    assert (status, error_code(body)) == (400, "ERR_ACTOR_INSTANCE_MISSING")

    assert http(side, "PUT", "/v1.0/actors/CounterActor/b1/method/Add", b"1")[0] == 200
    status, body = http(side, "POST", "/v1.0/actors/CounterActor/b1/state", b"[{not json")
    assert (status, error_code(body)) == (400, "ERR_MALFORMED_REQUEST")
    # One good operation and one bad: nothing is stored.
    mixed = (
        b'[{"operation":"upsert","request":{"key":"k1","value":"v1"}},'
        b'{"operation":"rename","request":{"key":"k2"}}]'
    )
    status, body = http(side, "POST", "/v1.0/actors/CounterActor/b1/state", mixed)
    assert (status, error_code(body)) == (500, "ERR_ACTOR_STATE_TRANSACTION_SAVE"), body
    assert http(side, "GET", "/v1.0/actors/CounterActor/b1/state/k1") == (204, b"")
    assert http(side, "POST", "/v1.0/actors/CounterActor/b1/state", upsert)[0] == 204
    assert http(side, "GET", "/v1.0/actors/CounterActor/b1/state/k1") == (200, b'"v1"')

    status, body = http(side, "POST", "/v1.0/actors/CounterActor/b1/timers/t1", b'{"dueTime":"soon"}')
    assert (status, error_code(body)) == (500, "ERR_ACTOR_TIMER_CREATE"), body
    # This sidecar has no scheduler.
    status, body = http(side, "POST", "/v1.0/actors/CounterActor/b1/reminders/r1", b'{"dueTime":"1s"}')
    assert (status, error_code(body)) == (500, "ERR_ACTOR_REMINDER_CREATE"), body
    assert b"no scheduler" in body
    status, body = http(side, "POST", "/v1.0/actors/Other/b1/reminders/r1", b'{"dueTime":"1s"}')
    assert (status, error_code(body)) == (403, "ERR_ACTOR_REMINDER_NON_HOSTED"), body


@pytest.mark.timeout(60)
def test_no_placement_address(procs: Processes, tmp_path: Path) -> None:
    side = procs.sidecar(f"noplace-{uuid.uuid4().hex[:6]}")
    status, body = http(side, "PUT", "/v1.0/actors/CounterActor/1/method/Add", b"1")
    assert (status, error_code(body)) == (400, "ERR_ACTOR_NO_PLACEMENT")
    meta = json.loads(http(side, "GET", "/v1.0/metadata")[1])
    assert meta["actorRuntime"] == {
        "runtimeStatus": "DISABLED",
        "hostReady": False,
        "placement": "placement: disconnected",
    }


@pytest.mark.timeout(120)
def test_flask_actor_app(procs, placement, app_id) -> None:  # type: ignore[no-untyped-def]
    resources = procs.workdir / "resources"
    redis_actor_store(resources)
    h1 = start_host(
        procs,
        name="flask",
        app_id=app_id,
        script=APPS / "actor_flask_app.py",
        placement=[placement],
        resources=resources,
        actor_type="FlaskCounter",
    )
    assert http(h1.sidecar, "PUT", "/v1.0/actors/FlaskCounter/f1/method/Add", b"4") == (200, b"4")
    assert http(h1.sidecar, "PUT", "/v1.0/actors/FlaskCounter/f1/method/Add", b"1") == (200, b"5")
    assert http(h1.sidecar, "GET", "/v1.0/actors/FlaskCounter/f1/state/total") == (200, b"5")
