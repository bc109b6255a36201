"""Routing through ActorsAPI: Resiliency targets.actors around the call (retry before the turn,
timeout inside it), calls sent to the owner's internal port, and re-lookup when the owner says
the actor is not its own any more."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pydapr.actors import errors as E
from pydapr.actors.api import ActorMethodError, ActorsAPI
from pydapr.actors.contract import ActorKey, EntityConfig, HostedTypes, InvokeRequest, InvokeResult
from pydapr.actors.host import ActorHost
from pydapr.actors.peers import PREFIX, PeerClient
from pydapr.actors.state import ActorState
from pydapr.errors import DaprError
from pydapr.http.client import HttpClient
from pydapr.http.multiplex_client import MultiplexClient
from pydapr.http.server import HttpServer
from pydapr.pipeline import Pipeline
from pydapr.pipeline.resiliency import ResiliencySource
from pydapr.resiliency import ResiliencyPolicies, compile_policies
from pydapr.resources.models import Resiliency, ResiliencyTargets, RetryPolicy, TargetPolicy

from .conftest import RecordingApp, TablePlacement


@dataclass
class Sidecar:
    api: ActorsAPI
    host: ActorHost
    app: RecordingApp
    address: str


def resiliency(**target: str) -> ResiliencyPolicies:
    return compile_policies(
        [
            Resiliency(
                name="r",
                source=Path("r.yaml"),
                timeouts={"short": 0.05},
                retries={"three": RetryPolicy(duration=0.01, max_retries=3)},
                targets=ResiliencyTargets(actors={"Counter": TargetPolicy(**target)}),  # type: ignore[arg-type]
            )
        ]
    )


def sidecar(
    placement: TablePlacement, app: RecordingApp, policies: ResiliencyPolicies | None = None
) -> Sidecar:
    def owns(key: ActorKey) -> bool:
        found = placement.owner(key)
        return found is not None and found.local

    host = ActorHost(owns=owns, resiliency=policies)
    pipeline = Pipeline()
    if policies is not None:
        pipeline.add(ResiliencySource(policies))
    client = HttpClient()
    api = ActorsAPI(
        app_id="app",
        host=host,
        state=ActorState(app_id="app", store=None, is_active=host.is_active),
        placement=placement,
        peers=PeerClient(client, "app", "default"),
        pipeline=pipeline,
    )
    api.host_types(HostedTypes({"Counter": EntityConfig("Counter")}), app)
    return Sidecar(api, host, app, "")


async def test_retry_applies_around_the_call() -> None:
    app = RecordingApp()
    failures = [500, 500]

    async def flaky(request: InvokeRequest) -> InvokeResult:
        app.calls.append(request)
        return InvokeResult(b'"ok"', failures.pop(0) if failures else 200)

    app.invoke = flaky  # type: ignore[method-assign]
    s = sidecar(TablePlacement(), app, resiliency(retry="three"))
    result = await s.api.invoke(InvokeRequest(ActorKey("Counter", "1"), "m"))
    assert result.data == b'"ok"' and len(app.calls) == 3


async def test_timeout_applies_inside_the_turn() -> None:
    app = RecordingApp(delay=1.0)
    s = sidecar(TablePlacement(), app, resiliency(timeout="short"))
    with pytest.raises(DaprError) as info:
        await s.api.invoke(InvokeRequest(ActorKey("Counter", "1"), "slow"))
    assert info.value.kind is E.INVOKE_METHOD
    assert "deadline" in info.value.message


async def test_error_header_returns_the_apps_answer() -> None:
    app = RecordingApp()

    async def failing(request: InvokeRequest) -> InvokeResult:
        return InvokeResult(b'{"oops":1}', 200, headers={"X-DaprErrorResponseHeader": "true"})

    app.invoke = failing  # type: ignore[method-assign]
    s = sidecar(TablePlacement(), app)
    with pytest.raises(ActorMethodError) as info:
        await s.api.invoke(InvokeRequest(ActorKey("Counter", "1"), "m"))
    assert info.value.result.data == b'{"oops":1}' and info.value.code == "ERR_ACTOR_INVOKE_METHOD"


@pytest.fixture
async def two() -> AsyncIterator[tuple[Sidecar, Sidecar, TablePlacement, TablePlacement]]:
    """Sidecar A (calls) and B (owns Counter), each with its placement view and internal port."""
    view_a, view_b = TablePlacement(), TablePlacement()
    a, b = sidecar(view_a, RecordingApp()), sidecar(view_b, RecordingApp())
    servers = []
    for s in (a, b):
        api = s.api

        async def handle(req, api=api):  # type: ignore[no-untyped-def]
            assert req.path.startswith(PREFIX)
            return await api.handle_internal(req)

        server = await HttpServer.start(handle, host="127.0.0.1", port=0)
        servers.append(server)
        s.address = f"127.0.0.1:{server.port}"
    view_a.owners["Counter"] = b.address
    view_b.owners["Counter"] = "local"
    yield a, b, view_a, view_b
    for server in servers:
        await server.shutdown(0.1)
    for s in (a, b):
        assert s.api.peers is not None
        await s.api.peers.client.close()


async def test_a_call_reaches_the_owner_through_its_internal_port(two) -> None:  # type: ignore[no-untyped-def]
    a, b, _, _ = two
    result = await a.api.invoke(InvokeRequest(ActorKey("Counter", "7"), "add", b"1", {"x-trace": "t"}))
    assert result.data == b'"add"'
    assert a.app.calls == [] and b.app.calls[0].data == b"1" and b.app.calls[0].metadata["x-trace"] == "t"
    assert b.host.is_active(ActorKey("Counter", "7")) and not a.host.is_active(ActorKey("Counter", "7"))


async def test_the_owners_errors_reach_the_caller(two) -> None:  # type: ignore[no-untyped-def]
    a, b, _, _ = two
    b.app.status = 500
    with pytest.raises(DaprError) as info:
        await a.api.invoke(InvokeRequest(ActorKey("Counter", "7"), "m"))
    assert info.value.code == "ERR_ACTOR_INVOKE_METHOD"
    assert "error from actor service: (500)" in info.value.message


async def test_a_stale_table_is_looked_up_again(two) -> None:  # type: ignore[no-untyped-def]
    a, b, view_a, view_b = two
    # B no longer owns the actor but A's table still says it does: B refuses, A retries, and
    # A's table catches up (the actor is A's now).
    view_b.owners["Counter"] = a.address

    async def catch_up() -> None:
        await asyncio.sleep(0.2)
        view_a.owners["Counter"] = "local"

    task = asyncio.create_task(catch_up())
    result = await asyncio.wait_for(a.api.invoke(InvokeRequest(ActorKey("Counter", "9"), "m")), 5)
    await task
    assert result.data == b'"m"' and b.app.calls == [] and len(a.app.calls) == 1


async def test_remote_timer_registration(two) -> None:  # type: ignore[no-untyped-def]
    a, b, _, _ = two
    key = ActorKey("Counter", "5")
    await a.api.register_timer(key, "t", due_time="0s", period="", ttl="", callback="cb", data=None)
    await asyncio.sleep(0.1)
    assert [fire.name for _, fire in b.app.timers] == ["t"]


@pytest.mark.parametrize("multiplexed", [False, True], ids=["http1", "peer-connection"])
async def test_a_call_over_the_hosts_body_limit_is_refused_at_once(multiplexed: bool) -> None:
    # Not a moved actor to look up again until the deadline: no host would take it.
    view_a, view_b = TablePlacement(), TablePlacement()
    a, b = sidecar(view_a, RecordingApp()), sidecar(view_b, RecordingApp())
    assert a.api.peers is not None
    plain = a.api.peers.client
    if multiplexed:
        a.api.peers.client = MultiplexClient(HttpClient())

    async def handle(req):  # type: ignore[no-untyped-def]
        return await b.api.handle_internal(req)

    server = await HttpServer.start(handle, host="127.0.0.1", port=0, max_body_size=512, peers=multiplexed)
    view_a.owners["Counter"] = f"127.0.0.1:{server.port}"
    view_b.owners["Counter"] = "local"
    try:
        with pytest.raises(DaprError) as info:
            big = InvokeRequest(ActorKey("Counter", "1"), "m", b"x" * 4096)
            await asyncio.wait_for(a.api.invoke(big), 2.0)
        assert info.value.code == "ERR_ACTOR_INVOKE_METHOD"
        assert "the actor's host refused the call" in info.value.message
        assert "exceeds the limit of 512 bytes" in info.value.message
        assert b.app.calls == []
        small = await a.api.invoke(InvokeRequest(ActorKey("Counter", "1"), "m", b"1"))
        assert small.data == b'"m"'
    finally:
        await server.shutdown(0.1)
        assert b.api.peers is not None
        for client in {plain, a.api.peers.client, b.api.peers.client}:
            await client.close()
