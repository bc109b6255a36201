"""The scheduler process end to end through the sidecar's client: CRUD, triggers, policies, durability."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Callable

import grpc
import pytest
from google.protobuf.any_pb2 import Any as AnyPb
from google.protobuf.wrappers_pb2 import StringValue

from pydapr.jobs.client import SchedulerClient
from pydapr.scheduler._proto import scheduler_pb2 as pb
from tests.integration.scheduler.harness import Schedulers


class Recorder:
    """Stands in for the app: records each delivered trigger and answers as told."""

    def __init__(self, answer: Callable[[str, int], bool] | None = None) -> None:
        self.calls: list[tuple[str, float, bytes]] = []
        self.answer = answer or (lambda name, n: True)

    async def __call__(self, name: str, data: AnyPb) -> bool:
        n = sum(1 for c in self.calls if c[0] == name)
        self.calls.append((name, time.monotonic(), data.value))
        return self.answer(name, n)

    def count(self, name: str) -> int:
        return sum(1 for c in self.calls if c[0] == name)


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def job(name: str, **fields: object) -> pb.Job:
    j = pb.Job(name=name, **fields)  # type: ignore[arg-type]
    if not j.HasField("data"):
        j.data.Pack(StringValue(value=f"data-{name}"))
    return j


async def connected(client: SchedulerClient) -> None:
    await eventually(lambda: all(client.connected))


async def test_schedule_get_trigger_and_done(scheds: Schedulers, storage: str) -> None:
    s = scheds.start(storage)
    client = SchedulerClient([s.address], "default", "app1")
    other = SchedulerClient([s.address], "default", "app2")
    rec = Recorder()
    try:
        await client.schedule(job("once", due_time="1s"), overwrite=False)
        got = await client.get("once")
        assert got.due_time == "1s" and got.failure_policy.constant.max_retries == 3
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await client.schedule(job("once", due_time="1s"), overwrite=False)
        assert exc.value.code() == grpc.StatusCode.ALREADY_EXISTS
        await client.schedule(job("once", due_time="1s"), overwrite=True)
        # Jobs are namespaced by app id: another app neither sees nor deletes them.
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await other.get("once")
        assert exc.value.code() == grpc.StatusCode.NOT_FOUND
        await other.delete("once")
        assert [j.name for j in await client.list_jobs()] == ["once"]
        client.watch(rec)
        await eventually(lambda: rec.count("once") == 1)
        unpacked = StringValue()
        assert AnyPb(
            type_url="type.googleapis.com/google.protobuf.StringValue", value=rec.calls[0][2]
        ).Unpack(unpacked)
        assert unpacked.value == "data-once"
        await asyncio.sleep(0.3)
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await client.get("once")  # a one-shot job is gone once delivered
        assert exc.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await client.schedule(job("bad", schedule="every day"), overwrite=False)
        assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        for n in ("a-1", "a-2", "b-1"):
            await client.schedule(job(n, schedule="@every 1h"), overwrite=False)
        assert await client.delete_prefix("a-") == 2
        assert [j.name for j in await client.list_jobs()] == ["b-1"]
    finally:
        await client.close()
        await other.close()


async def test_repeats_and_failure_policies(scheds: Schedulers, storage: str) -> None:
    s = scheds.start(storage)
    client = SchedulerClient([s.address], "default", "app1")
    # "flaky" fails twice then succeeds; "broken" always fails.
    rec = Recorder(lambda name, n: (name == "flaky" and n >= 2) or name == "ok")
    try:
        client.watch(rec)
        await connected(client)
        retry = pb.FailurePolicy(constant=pb.Constant(interval_seconds=0.2, max_retries=5))
        await client.schedule(job("flaky", due_time="0s", failure_policy=retry), overwrite=False)
        drop = pb.FailurePolicy(drop=pb.Drop())
        await client.schedule(job("broken", due_time="0s", failure_policy=drop), overwrite=False)
        capped = pb.FailurePolicy(constant=pb.Constant(interval_seconds=0.1, max_retries=2))
        await client.schedule(job("capped", due_time="0s", failure_policy=capped), overwrite=False)
        await client.schedule(job("ok", schedule="@every 0.3s", repeats=3), overwrite=False)
        await eventually(
            lambda: rec.count("flaky") == 3 and rec.count("ok") == 3 and rec.count("capped") == 3
        )
        await asyncio.sleep(1.0)
        assert (rec.count("flaky"), rec.count("broken"), rec.count("capped"), rec.count("ok")) == (3, 1, 3, 3)
        assert await client.list_jobs() == []
    finally:
        await client.close()


async def test_durable_and_missed_occurrences_coalesced(scheds: Schedulers, storage: str) -> None:
    s = scheds.start(storage)
    client = SchedulerClient([s.address], "default", "app1")
    await client.schedule(job("tick", schedule="@every 1s"), overwrite=False)
    await client.schedule(job("later", due_time="2s"), overwrite=False)
    await client.close()
    # The app is away for ~4 occurrences, and the scheduler dies meanwhile.
    s.kill()
    await asyncio.sleep(3.5)
    s2 = scheds.start(storage, port=s.port)
    rec = Recorder()
    client = SchedulerClient([s2.address], "default", "app1")
    try:
        client.watch(rec)
        await eventually(lambda: rec.count("tick") >= 1 and rec.count("later") == 1)
        await asyncio.sleep(0.6)
        assert rec.count("tick") == 1  # missed occurrences fire once, not once each (dapr#4500)
        await eventually(lambda: rec.count("tick") >= 3, timeout=5)
        ticks = [t for n, t, _ in rec.calls if n == "tick"]
        assert all(0.7 < b - a < 1.4 for a, b in pairs(ticks))
        assert rec.count("later") == 1
    finally:
        await client.close()


def pairs(xs: list[float]) -> list[tuple[float, float]]:
    return list(itertools.pairwise(xs))


async def test_ttl_passed_while_app_away_is_not_delivered(scheds: Schedulers, storage: str) -> None:
    s = scheds.start(storage)
    client = SchedulerClient([s.address], "default", "app1")
    rec = Recorder()
    try:
        await client.schedule(job("short", schedule="@every 1s", ttl="2s"), overwrite=False)
        await asyncio.sleep(3.5)
        client.watch(rec)
        await connected(client)
        await asyncio.sleep(1.0)
        assert rec.count("short") == 0
        assert await client.list_jobs() == []
    finally:
        await client.close()


async def test_each_occurrence_goes_to_one_app_replica(scheds: Schedulers, storage: str) -> None:
    s = scheds.start(storage)
    a, b = (SchedulerClient([s.address], "default", "app1") for _ in range(2))
    rec = Recorder()
    try:
        a.watch(rec)
        b.watch(rec)
        await connected(a)
        await connected(b)
        for i in range(50):
            await a.schedule(job(f"j{i}", due_time="0.5s"), overwrite=False)
        await eventually(lambda: len(rec.calls) >= 50)
        await asyncio.sleep(0.5)
        assert Counter(n for n, _, _ in rec.calls) == Counter({f"j{i}": 1 for i in range(50)})
    finally:
        await a.close()
        await b.close()
