"""A real placement service with several PlacementClients: tables, rounds, waiting lookups."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from pydapr.actors.contract import ActorKey
from pydapr.errors import DaprError
from pydapr.placement.ring import Ring
from tests.integration.placement.helpers import Recorder, client, eventually, placement_server

pytestmark = pytest.mark.timeout(60)


async def test_every_client_gets_the_same_table_and_dapr_ring_answers() -> None:
    async with placement_server() as (_, address):
        hosts = ["10.0.0.1:5001", "10.0.0.2:5001", "10.0.0.3:5001"]
        clients = [client(address, h, ["counter"], app_id=f"app{i}") for i, h in enumerate(hosts)]
        caller = client(address, "10.0.0.9:5001", [], app_id="caller")  # hosts nothing, still gets tables
        for c in [*clients, caller]:
            await c.start()
        try:
            ring = Ring(hosts)
            await eventually(lambda: all(c.connected for c in [*clients, caller]))
            for i in range(50):
                key = ActorKey("counter", f"id-{i}")
                owners = {(await c.lookup(key, timeout=5)).address for c in [*clients, caller]}
                assert owners == {ring.lookup(f"id-{i}")}
            loc = await clients[0].lookup(ActorKey("counter", "x"), timeout=5)
            assert loc.local == (loc.address == hosts[0])
            assert {loc.app_id} <= {"app0", "app1", "app2"}
            with pytest.raises(DaprError) as err:
                await caller.lookup(ActorKey("nobody-hosts-this", "1"), timeout=5)
            assert err.value.code == "ERR_ACTOR_NO_ADDRESS"
            assert caller.metadata()["placement"] == "placement: connected"
        finally:
            for c in [*clients, caller]:
                await c.close()


async def test_join_and_leave_run_lock_update_unlock_on_every_client() -> None:
    async with placement_server(leave_grace=0.2) as (_, address):
        a, b = client(address, "10.0.0.1:1", ["t"]), client(address, "10.0.0.2:1", ["t"])
        ra, rb = Recorder("a"), Recorder("b")
        a.add_listener(ra)
        b.add_listener(rb)
        await a.start()
        await b.start()
        c = client(address, "10.0.0.3:1", ["t"])
        try:
            await eventually(lambda: a.owner(ActorKey("t", "1")) is not None and len(rb.events) >= 4)
            ra.events.clear()
            rb.events.clear()
            await c.start()
            await eventually(lambda: ra.events[-1:] == ["unlock"] and rb.events[-1:] == ["unlock"])
            assert ra.events == ["lock", "update", "updated", "unlock"]
            assert rb.events == ["lock", "update", "updated", "unlock"]
            assert (
                Ring(["10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"]).lookup("k")
                == (await a.lookup(ActorKey("t", "k"), timeout=5)).address
            )
            ra.events.clear()
            await c.close()
            await eventually(lambda: ra.events[-1:] == ["unlock"])
            assert ra.events == ["lock", "update", "updated", "unlock"]
            owners = {(await a.lookup(ActorKey("t", f"{i}"), timeout=5)).address for i in range(40)}
            assert owners == {"10.0.0.1:1", "10.0.0.2:1"}
        finally:
            for x in (a, b, c):
                await x.close()


async def test_a_burst_of_joins_is_one_round() -> None:
    async with placement_server(debounce=0.3) as (service, address):
        clients = [client(address, f"10.0.1.{i}:1", ["t"]) for i in range(5)]
        for c in clients:
            await c.start()
        try:
            await eventually(lambda: all(c.owner(ActorKey("t", "1")) is not None for c in clients))
            assert service.namespaces["default"].rounds == 1
        finally:
            for c in clients:
                await c.close()


async def test_lookup_waits_during_a_round_and_update_ack_waits_for_a_slow_listener() -> None:
    async with placement_server(debounce=0.05) as (_, address):
        log: list[tuple[str, str]] = []
        a, b = client(address, "10.0.0.1:1", ["t"]), client(address, "10.0.0.2:1", ["t"])
        ra, rb = Recorder("a", log), Recorder("b", log)
        a.add_listener(ra)
        b.add_listener(rb)
        await a.start()
        await b.start()
        try:
            await eventually(lambda: rb.events[-1:] == ["unlock"] and ra.events[-1:] == ["unlock"])
            log.clear()
            rb.update_delay = 1.0  # b "drains" actors that move away
            c = client(address, "10.0.0.3:1", ["t"])
            await c.start()
            await eventually(lambda: ("a", "lock") in log)
            started = time.monotonic()
            loc = await a.lookup(ActorKey("t", "k"), timeout=10)  # waits for the unlock
            waited = time.monotonic() - started
            assert waited >= 0.8, waited
            assert loc.address == Ring(["10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"]).lookup("k")
            # nobody unlocks before every sidecar finished its update: single activation
            first_unlock = min(i for i, (_, e) in enumerate(log) if e == "unlock")
            assert log.index(("b", "updated")) < first_unlock
            assert log.index(("a", "updated")) < first_unlock
            await c.close()
        finally:
            await a.close()
            await b.close()


async def test_lookup_before_any_table_times_out_with_no_placement() -> None:
    async with placement_server() as (_, address):
        c = client(["127.0.0.1:1", address.replace(address.rsplit(":", 1)[1], "2")], "10.0.0.1:1", ["t"])
        await c.start()
        try:
            with pytest.raises(DaprError) as err:
                await c.lookup(ActorKey("t", "1"), timeout=0.5)
            assert err.value.code == "ERR_ACTOR_NO_PLACEMENT"
            assert not c.connected
            assert c.metadata()["placement"] == "placement: disconnected"
        finally:
            await c.close()


async def test_a_sidecar_that_does_not_ack_is_dropped() -> None:
    async with placement_server(ack_timeout=0.5, debounce=0.05) as (_, address):
        a, b = client(address, "10.0.0.1:1", ["t"]), client(address, "10.0.0.2:1", ["t"])
        await a.start()
        await b.start()
        try:
            await eventually(lambda: a.owner(ActorKey("t", "1")) is not None)
            stuck = Recorder("b")
            stuck.update_delay = 30.0
            b.add_listener(stuck)
            c = client(address, "10.0.0.3:1", ["t"])
            await c.start()
            # b never acks the update: it leaves the table and a and c carry on without it
            await eventually(
                lambda: (
                    {a.owner(ActorKey("t", str(i))).address for i in range(40)}  # type: ignore[union-attr]
                    == {"10.0.0.1:1", "10.0.0.3:1"}
                ),
                timeout=10,
            )
            await c.close()
        finally:
            await a.close()
            await b.close()


async def test_namespaces_have_their_own_tables() -> None:
    async with placement_server() as (_, address):
        a = client(address, "10.0.0.1:1", ["t"], namespace="ns1")
        b = client(address, "10.0.0.2:1", ["t"], namespace="ns2")
        await a.start()
        await b.start()
        try:
            for i in range(10):
                assert (await a.lookup(ActorKey("t", str(i)), timeout=5)).address == "10.0.0.1:1"
                assert (await b.lookup(ActorKey("t", str(i)), timeout=5)).address == "10.0.0.2:1"
        finally:
            await a.close()
            await b.close()


async def test_set_hosted_changes_the_table() -> None:
    async with placement_server(debounce=0.05) as (_, address):
        a = client(address, "10.0.0.1:1", [])
        await a.start()
        try:
            await eventually(lambda: a.tables_version is not None)
            assert a.owner(ActorKey("t", "1")) is None
            a.set_hosted(["t"])
            await eventually(lambda: a.owner(ActorKey("t", "1")) is not None)
            assert (await a.lookup(ActorKey("t", "1"), timeout=5)).local
        finally:
            await a.close()


class _SlowLock(Recorder):
    """Takes ``delay`` seconds to acknowledge a lock, then ``then`` runs."""

    def __init__(self, name: str, delay: float, then: Callable[[], None] | None = None) -> None:
        super().__init__(name)
        self.delay = delay
        self.then = then

    async def on_lock(self) -> None:
        await super().on_lock()
        await asyncio.sleep(self.delay)
        if self.then is not None:
            self.then()


async def test_a_sidecar_that_leaves_after_acking_the_lock_does_not_hold_the_round() -> None:
    # b acknowledges the lock and disconnects while a still takes its time: the update goes to
    # a and c at once, not after the ack timeout waiting for b, who can no longer answer.
    async with placement_server(ack_timeout=30.0, debounce=0.05, leave_grace=0.2) as (_, address):
        a, b = client(address, "10.0.0.1:1", ["t"]), client(address, "10.0.0.2:1", ["t"])
        await a.start()
        await b.start()
        c = client(address, "10.0.0.3:1", ["t"])
        closing: list[asyncio.Task[None]] = []
        try:
            await eventually(lambda: a.owner(ActorKey("t", "1")) is not None)
            slow = _SlowLock("a", 0.6)
            a.add_listener(slow)
            b.add_listener(_SlowLock("b", 0.0, lambda: closing.append(asyncio.create_task(b.close()))))
            await c.start()
            await eventually(lambda: bool(closing) and closing[0].done(), timeout=5)
            started = time.monotonic()
            await eventually(lambda: "unlock" in slow.events, timeout=5)
            assert time.monotonic() - started < 5
            # and b's leave is a round of its own: a and c share the table
            await eventually(
                lambda: (
                    {a.owner(ActorKey("t", str(i))).address for i in range(40)}  # type: ignore[union-attr]
                    == {"10.0.0.1:1", "10.0.0.3:1"}
                ),
                timeout=5,
            )
        finally:
            for x in (a, b, c):
                await x.close()
