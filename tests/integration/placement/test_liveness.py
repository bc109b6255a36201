"""Who stays in the table: silent sidecars leave, a quick reconnect does not rebalance, bad reports."""

from __future__ import annotations

import grpc
import pytest

from pydapr.actors.contract import ActorKey
from pydapr.placement._proto import placement_pb2 as pb
from pydapr.placement._proto import placement_pb2_grpc as pb_grpc
from pydapr.placement.client import PlacementClient
from tests.integration.placement.helpers import Recorder, client, eventually, placement_server

pytestmark = pytest.mark.timeout(60)


def owners(c: PlacementClient, n: int = 40) -> set[str | None]:
    locations = [c.owner(ActorKey("t", str(i))) for i in range(n)]
    return {loc.address if loc else None for loc in locations}


async def test_a_sidecar_that_stops_reporting_leaves_the_table() -> None:
    async with placement_server(keepalive_timeout=1.0, debounce=0.05) as (_, address):
        a = client(address, "10.0.0.1:1", ["t"])
        await a.start()
        async with grpc.aio.insecure_channel(address) as channel:
            # A sidecar that reports once, acknowledges its round, then goes silent (hung, not gone).
            call = pb_grpc.PlacementStub(channel).ReportDaprStatus()  # type: ignore[no-untyped-call]
            host = pb.Host(name="10.0.0.2:1", id="silent", namespace="default", entities=["t"])
            await call.write(host)
            for _ in range(2):
                order = await call.read()
                ack = pb.LOCK if order.operation == "lock" else pb.UPDATE
                await call.write(pb.Host(name=host.name, id=host.id, operation=ack, version=order.version))
            try:
                await eventually(lambda: a.owner(ActorKey("t", "1")) is not None)
                await eventually(lambda: owners(a) == {"10.0.0.1:1", "10.0.0.2:1"})
                await eventually(lambda: owners(a) == {"10.0.0.1:1"}, timeout=10)
            finally:
                call.cancel()
                await a.close()


async def test_a_quick_reconnect_does_not_rebalance() -> None:
    async with placement_server(leave_grace=2.0, debounce=0.05) as (service, address):
        a, b = client(address, "10.0.0.1:1", ["t"]), client(address, "10.0.0.2:1", ["t"])
        ra = Recorder("a")
        a.add_listener(ra)
        await a.start()
        await b.start()
        try:
            await eventually(lambda: owners(a) == {"10.0.0.1:1", "10.0.0.2:1"})
            await eventually(lambda: ra.events[-1:] == ["unlock"])
            rounds, ra.events[:] = service.namespaces["default"].rounds, []
            await b.close()  # the stream breaks ...
            again = client(address, "10.0.0.2:1", ["t"])  # ... and the same host is back at once
            await again.start()
            await eventually(lambda: again.owner(ActorKey("t", "1")) is not None)
            assert owners(again) == {"10.0.0.1:1", "10.0.0.2:1"}
            assert ra.events == []  # a was never locked: the table did not change
            assert service.namespaces["default"].rounds == rounds + 1  # the newcomer's own round
            await again.close()
        finally:
            await a.close()
            await b.close()


async def test_a_report_without_name_or_app_id_is_refused() -> None:
    async with placement_server() as (_, address), grpc.aio.insecure_channel(address) as channel:
        call = pb_grpc.PlacementStub(channel).ReportDaprStatus()  # type: ignore[no-untyped-call]
        await call.write(pb.Host(namespace="default", entities=["t"]))
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call.read()
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
