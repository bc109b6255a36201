"""A sidecar cut off from placement halts its actors before anyone else can be given them."""

from __future__ import annotations

import asyncio

import pytest

from pydapr.actors import errors as actor_errors
from pydapr.actors.contract import ActorKey
from pydapr.errors import DaprError
from pydapr.placement.client import HALT_AFTER
from pydapr.placement.lease import Leadership
from pydapr.placement.server import PlacementService, start_server
from tests.integration.placement.helpers import Recorder, client, eventually

pytestmark = pytest.mark.timeout(60)

KEY = ActorKey("t", "1")


async def _serve(port: int = 0) -> tuple[PlacementService, object, int]:
    service = PlacementService(Leadership(None, "test", grace=0.0), debounce=0.05)
    server, bound = await start_server(service, "127.0.0.1", port)
    return service, server, bound


async def _stop(service: PlacementService, server: object) -> None:
    await server.stop(grace=0)  # type: ignore[attr-defined]
    service.step_down()


async def test_placement_gone_longer_than_the_halt_time_halts_the_actors_until_it_is_back() -> None:
    service, server, port = await _serve()
    c = client(f"127.0.0.1:{port}", "10.0.0.1:1", ["t"])
    rec = Recorder("a")
    c.add_listener(rec)
    await c.start()
    try:
        await eventually(lambda: c.owner(KEY) is not None and rec.events[-1:] == ["unlock"])
        await _stop(service, server)
        await asyncio.sleep(HALT_AFTER / 2)
        assert "halt" not in rec.events and c.owner(KEY) is not None  # still within the window
        await eventually(lambda: "halt" in rec.events, timeout=HALT_AFTER + 2)
        assert c.owner(KEY) is None
        with pytest.raises(DaprError) as err:
            await c.lookup(KEY, timeout=0.3)  # waits for a table, none comes
        assert err.value.kind is actor_errors.NO_PLACEMENT
        service, server, _ = await _serve(port)  # placement is back: the sidecar resyncs
        location = await c.lookup(KEY, timeout=10)
        assert location.local and location.address == "10.0.0.1:1"
    finally:
        await c.close()
        await _stop(service, server)


async def test_a_restart_within_the_halt_time_keeps_the_actors() -> None:
    service, server, port = await _serve()
    c = client(f"127.0.0.1:{port}", "10.0.0.1:1", ["t"])
    rec = Recorder("a")
    c.add_listener(rec)
    await c.start()
    try:
        await eventually(lambda: c.owner(KEY) is not None and rec.events[-1:] == ["unlock"])
        await _stop(service, server)
        service, server, _ = await _serve(port)
        await eventually(lambda: c.connected, timeout=HALT_AFTER)
        await asyncio.sleep(HALT_AFTER + 0.5)
        assert "halt" not in rec.events
        assert (await c.lookup(KEY, timeout=5)).local
    finally:
        await c.close()
        await _stop(service, server)
