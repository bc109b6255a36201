"""Two ``pydapr placement`` replicas on one lease store: the leader is killed, the standby takes over."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis

from pydapr.actors.contract import ActorKey
from pydapr.errors import DaprError
from tests.integration.placement.helpers import Recorder, client, eventually
from tests.integration.placement.procs import Placements, placements

pytestmark = pytest.mark.timeout(90)

PG = "postgresql://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Placements]:
    with placements(tmp_path) as p:
        yield p


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """(store URL, lease name): each test its own lease row in database ``test`` or its own key."""
    lease = f"test-{uuid.uuid4().hex[:10]}"
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path}/leader.db", lease
    elif request.param == "postgresql":
        yield PG, lease
        conn = await asyncpg.connect(PG)
        try:
            await conn.execute("DELETE FROM pydapr_placement_leases WHERE name = $1", lease)
        finally:
            await conn.close()
    else:
        yield REDIS, lease
        r = aioredis.Redis.from_url(REDIS)
        await r.delete(f"pydapr:placement:{lease}:leader")
        await r.aclose()


def leader_of(procs: list) -> list:  # type: ignore[type-arg]
    return [p for p in procs if "is the placement leader" in p.log() and "no longer" not in p.log()]


async def test_the_standby_takes_over_and_clients_keep_their_table(
    procs: Placements, store: tuple[str, str]
) -> None:
    url, lease = store
    first = procs.start(url, "p1", "--lease-name", lease)
    await eventually(lambda: "is the placement leader" in first.log())
    second = procs.start(url, "p2", "--lease-name", lease)
    addresses = [first.address, second.address]
    hosts = ["10.1.0.1:1", "10.1.0.2:1", "10.1.0.3:1"]
    clients = [
        client(addresses[:: 1 if i % 2 else -1], h, ["t"], app_id=f"a{i}") for i, h in enumerate(hosts)
    ]
    recorders = [Recorder(h) for h in hosts]
    for c, r in zip(clients, recorders, strict=True):
        c.add_listener(r)
        await c.start()
    keys = [ActorKey("t", f"id-{i}") for i in range(30)]
    try:
        await eventually(lambda: all(c.owner(keys[0]) is not None for c in clients), timeout=15)
        before = {k: clients[0].owner(k).address for k in keys}  # type: ignore[union-attr]
        versions = {c.tables_version for c in clients}
        assert len(versions) == 1
        assert "not the leader" not in second.log()  # the standby only refused, it never led
        assert not leader_of([second])

        failures: list[str] = []
        stop = asyncio.Event()

        async def keep_looking_up() -> None:
            # A lookup made while the tables are locked waits for the new leader's (at most its
            # 15 s timeout, which fails it): none may fail. How long each waited is the machine's.
            while not stop.is_set():
                for n, c in enumerate(clients):
                    try:
                        await c.lookup(keys[(len(failures) + n) % len(keys)], timeout=15)
                    except DaprError as exc:
                        failures.append(exc.code)
                await asyncio.sleep(0.02)

        looker = asyncio.create_task(keep_looking_up())
        first.kill()  # SIGKILL: no release of the lease
        await eventually(lambda: "is the placement leader" in second.log(), timeout=10)
        await eventually(lambda: all(c.tables_version not in versions for c in clients), timeout=10)
        await eventually(lambda: all(r.events[-1:] == ["unlock"] for r in recorders), timeout=5)
        stop.set()
        await looker
        assert not failures
        assert all(c.connected for c in clients)
        for c in clients:
            assert {k: c.owner(k).address for k in keys} == before  # type: ignore[union-attr]  # the resync kept every owner
    finally:
        for c in clients:
            await c.close()


async def test_a_follower_refuses_streams(procs: Placements, tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/leader.db"
    first = procs.start(url, "p1")
    await eventually(lambda: "is the placement leader" in first.log())
    second = procs.start(url, "p2")
    only_follower = client([second.address], "10.2.0.1:1", ["t"])
    await only_follower.start()
    try:
        await asyncio.sleep(1.0)
        assert not only_follower.connected
        with pytest.raises(DaprError) as err:
            await only_follower.lookup(ActorKey("t", "1"), timeout=0.3)
        assert err.value.code == "ERR_ACTOR_NO_PLACEMENT"
    finally:
        await only_follower.close()


def test_startup_errors_exit_at_once(procs: Placements, tmp_path: Path) -> None:
    import subprocess
    import sys

    taken = procs.start(f"sqlite://{tmp_path}/a.db", "p1")
    cases = [
        (["--port", str(taken.port), "--store", f"sqlite://{tmp_path}/b.db"], "cannot listen on"),
        (["--store", "mongodb://x"], "unsupported placement store"),
        (["--store", "postgresql://postgres@127.0.0.1:1/test"], "cannot open the placement store"),
    ]
    for args, message in cases:
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "pydapr", "placement", "--port", "0", *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert done.returncode != 0
        assert message in done.stderr, done.stderr
        assert time.monotonic() - started < 10


async def test_a_stopped_leader_hands_over_at_once(procs: Placements, tmp_path: Path) -> None:
    import signal

    url = f"sqlite://{tmp_path}/leader.db"
    first = procs.start(url, "p1")
    await eventually(lambda: "is the placement leader" in first.log())
    second = procs.start(url, "p2")
    c = client([first.address, second.address], "10.3.0.1:1", ["t"])
    await c.start()
    try:
        await eventually(lambda: c.tables_version is not None, timeout=10)
        version = c.tables_version
        stopped = time.monotonic()
        first.kill(signal.SIGTERM)  # releases the lease: no waiting for it to expire
        assert first.popen.returncode == 0
        await eventually(lambda: c.tables_version != version, timeout=10)
        # the lease at once, then the new leader's grace (1 s here) collecting reports
        assert time.monotonic() - stopped < 1.0 + 2.0
        assert (await c.lookup(ActorKey("t", "1"), timeout=1)).address == "10.3.0.1:1"
    finally:
        await c.close()
