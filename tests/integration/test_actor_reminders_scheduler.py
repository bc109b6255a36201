"""Actor reminders through ReminderService against a real ``pydapr scheduler`` process: what the
actor host sees fire, how often, on which sidecar, and that it survives restarts."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from pydapr.actors import errors
from pydapr.actors.contract import ActorKey, FailurePolicy, Reminder
from pydapr.actors.reminders import ReminderService
from pydapr.errors import DaprError
from tests.integration.scheduler.harness import Schedulers, create_database, drop_database, schedulers


class Fires:
    """Stands in for the actor host: records each reminder fired and answers as told."""

    def __init__(self, answer: Callable[[Reminder, int], bool] | None = None) -> None:
        self.calls: list[tuple[float, Reminder]] = []
        self.answer = answer or (lambda r, n: True)
        # Counted as they come: with 1200 reminders a second, counting the list on every fire made
        # each fire slower than the next one's arrival on a loaded machine, and the test never ended.
        self._per_reminder: Counter[tuple[str, str]] = Counter()
        self._per_actor: Counter[str] = Counter()

    async def __call__(self, reminder: Reminder) -> bool:
        n = self.count(reminder.key.actor_id, reminder.name)
        self.calls.append((time.monotonic(), reminder))
        self._per_reminder[reminder.key.actor_id, reminder.name] += 1
        self._per_actor[reminder.key.actor_id] += 1
        return self.answer(reminder, n)

    def count(self, actor_id: str, name: str = "r") -> int:
        return self._per_reminder[actor_id, name]

    def ids(self) -> Counter[str]:
        return self._per_actor.copy()


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def settled(count: Callable[[], int], quiet: float = 0.5, timeout: float = 5.0) -> int:
    """Until ``count`` (fires so far) stays the same for ``quiet`` seconds, longer than the periods
    it counts; its value then. Triggers the scheduler sent before a delete may still arrive, later
    on a loaded machine: a fixed grace of 0.2 s flaked."""
    deadline = time.monotonic() + timeout
    seen, since = count(), time.monotonic()
    while time.monotonic() - since < quiet:
        if time.monotonic() > deadline:
            raise AssertionError(f"still firing {timeout}s after the delete: {count()} fires")
        await asyncio.sleep(0.05)
        if count() != seen:
            seen, since = count(), time.monotonic()
    return seen


@pytest.fixture
def scheds(tmp_path: Path) -> Iterator[Schedulers]:
    with schedulers(tmp_path) as s:
        yield s


@pytest.fixture(params=["sqlite", "postgresql"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path}/jobs.db"
        return
    name = await create_database()
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        await drop_database(name)


@pytest.fixture
def address(scheds: Schedulers, tmp_path: Path) -> str:
    return scheds.start(f"sqlite://{tmp_path}/jobs.db").address


@pytest.fixture
async def service(address: str) -> AsyncIterator[ReminderService]:
    svc = ReminderService([address], "default", "app1")
    try:
        yield svc
    finally:
        await svc.close()


async def watching(svc: ReminderService, actor_type: str, fires: Fires) -> None:
    svc.watch([actor_type], fires)
    await eventually(lambda: svc.connected(actor_type))


def rem(actor_id: str, *, due: str = "", period: str = "", ttl: str = "", data: bytes | None = None,
        name: str = "r", actor_type: str = "Cart", failure_policy: FailurePolicy | None = None,
        ) -> Reminder:  # fmt: skip
    key = ActorKey(actor_type, actor_id)
    return Reminder(key, name, due, period, ttl, data, failure_policy=failure_policy)


async def test_fires_with_the_registered_data_and_strings(service: ReminderService) -> None:
    fires = Fires()
    await watching(service, "Cart", fires)
    registered = rem("c-1", due="PT0.2S", period="R2/PT0.3S", ttl="1h", data=b'{"a":[1,2]}')
    await service.create(registered)
    assert await service.get(ActorKey("Cart", "c-1"), "r") == registered
    await eventually(lambda: fires.count("c-1") == 2)
    assert [r for _, r in fires.calls] == [registered, registered]
    # The last of its repetitions ends it.
    await asyncio.sleep(0.3)
    assert await service.get(ActorKey("Cart", "c-1"), "r") is None


async def test_three_repetitions_fire_exactly_three_times(service: ReminderService) -> None:
    fires = Fires()
    await watching(service, "Cart", fires)
    await service.create(rem("c-1", period="R3/PT0.5S"))
    await eventually(lambda: fires.count("c-1") == 3)
    times = [t for t, _ in fires.calls]
    assert times[2] - times[0] == pytest.approx(1.0, abs=0.5)
    await asyncio.sleep(1.5)
    assert fires.count("c-1") == 3


async def test_a_cron_period_fires_on_its_ticks(service: ReminderService) -> None:
    fires = Fires()
    await watching(service, "Cart", fires)
    registered = rem("c-1", period="* * * * * *", data=b'"tick"')
    await service.create(registered)
    assert await service.get(ActorKey("Cart", "c-1"), "r") == registered
    await eventually(lambda: fires.count("c-1") >= 3)
    times = [t for t, _ in fires.calls]
    assert times[2] - times[0] == pytest.approx(2.0, abs=0.6)  # one tick a second


async def test_delete_stops_it(service: ReminderService) -> None:
    fires = Fires()
    await watching(service, "Cart", fires)
    await service.create(rem("c-1", period="300ms"))
    await service.create(rem("c-2", period="300ms"))
    await eventually(lambda: fires.count("c-1") >= 2)
    await service.delete(ActorKey("Cart", "c-1"), "r")
    seen = await settled(lambda: fires.count("c-1"))
    await asyncio.sleep(1.2)
    assert fires.count("c-1") == seen
    assert fires.count("c-2") >= 5  # the other one goes on
    assert await service.get(ActorKey("Cart", "c-1"), "r") is None


async def test_list_and_delete_all_by_actor(service: ReminderService) -> None:
    for actor_id, name in [("a", "x"), ("a", "y"), ("a||b", "x"), ("b", "x")]:
        await service.create(rem(actor_id, name=name, due="1h"))
    await service.create(rem("a", name="x", due="1h", actor_type="Other"))
    assert sorted((r.key.actor_id, r.name) for r in await service.list("Cart", "a")) == [
        ("a", "x"),
        ("a", "y"),
    ]
    assert len(await service.list("Cart")) == 4
    await service.delete_all("Cart", "a")
    assert sorted(r.key.actor_id for r in await service.list("Cart")) == ["a||b", "b"]
    await service.delete_all("Cart")
    assert await service.list("Cart") == []
    assert len(await service.list("Other")) == 1  # reminders belong to their type


async def test_re_registering_replaces_and_restarts_the_schedule(service: ReminderService) -> None:
    fires = Fires()
    await watching(service, "Cart", fires)
    await service.create(rem("c-1", due="1h", period="1h", data=b"old"))
    await service.create(rem("c-1", due="200ms", period="R2/PT0.2S", data=b"new"))
    await eventually(lambda: fires.count("c-1") == 2)
    assert {r.data for _, r in fires.calls} == {b"new"}
    # Its two repetitions are done: the scheduler drops the job once the last trigger is
    # answered, which may come just after the app saw it.
    deadline = time.monotonic() + 5.0
    while (got := await service.get(ActorKey("Cart", "c-1"), "r")) is not None:
        assert time.monotonic() < deadline, f"still registered after its last repetition: {got}"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.6)
    assert fires.count("c-1") == 2


async def test_ttl_ends_it(service: ReminderService) -> None:
    fires = Fires()
    await watching(service, "Cart", fires)
    await service.create(rem("c-1", period="200ms", ttl="1s"))
    await eventually(lambda: fires.count("c-1") >= 4)
    await asyncio.sleep(1.0)
    done = fires.count("c-1")
    assert 4 <= done <= 6
    await asyncio.sleep(0.6)
    assert fires.count("c-1") == done
    assert await service.get(ActorKey("Cart", "c-1"), "r") is None


@pytest.mark.parametrize(
    ("due", "period", "ttl", "message"),
    [
        ("soon", "", "", "error creating actor reminder: error parsing reminder due time: unsupported time"),
        ("", "R0/PT1S", "", "error creating actor reminder: invalid reminder period: parse error: has zero"),
        ("", "P1M", "", "error creating actor reminder: unsupported period format: P1M"),
        ("", "1s", "-1s", "error creating actor reminder: reminder Cart||c-1||r has already expired"),
    ],
)
async def test_invalid_values_are_refused_and_nothing_is_stored(
    service: ReminderService, due: str, period: str, ttl: str, message: str
) -> None:
    with pytest.raises(DaprError) as err:
        await service.create(rem("c-1", due=due, period=period, ttl=ttl))
    assert err.value.kind is errors.REMINDER_CREATE
    assert (err.value.code, err.value.http_status) == ("ERR_ACTOR_REMINDER_CREATE", 500)
    assert err.value.message.startswith(message)
    assert await service.get(ActorKey("Cart", "c-1"), "r") is None


async def test_a_failed_fire_is_retried(service: ReminderService) -> None:
    fires = Fires(lambda r, n: n >= 1)  # the first attempt fails
    await watching(service, "Cart", fires)
    await service.create(rem("c-1"))
    await eventually(lambda: fires.count("c-1") == 2, timeout=5)
    assert fires.calls[1][0] - fires.calls[0][0] == pytest.approx(1.0, abs=0.5)  # the scheduler's 1 s
    await asyncio.sleep(1.5)
    assert fires.count("c-1") == 2


async def test_overwrite_false_refuses_an_existing_one_and_keeps_it(service: ReminderService) -> None:
    first = rem("c-1", period="1h", data=b'"first"')
    await service.create(first)
    with pytest.raises(DaprError) as err:
        await service.create(replace(first, data=b'"second"', overwrite=False))
    assert (err.value.code, err.value.http_status) == ("ERR_ACTOR_REMINDER_ALREADY_EXISTS", 409)
    stored = await service.get(ActorKey("Cart", "c-1"), "r")
    assert stored is not None and stored.data == b'"first"'
    await service.create(replace(first, name="other", overwrite=False))  # a new name is created
    assert await service.get(ActorKey("Cart", "c-1"), "other") is not None


async def test_a_drop_failure_policy_is_not_retried(service: ReminderService) -> None:
    fires = Fires(lambda r, n: False)  # the app fails every attempt
    await watching(service, "Cart", fires)
    await service.create(rem("c-1", failure_policy=FailurePolicy(drop=True)))
    await eventually(lambda: fires.count("c-1") == 1)
    await asyncio.sleep(2.0)  # the default policy would have retried after 1 s
    assert fires.count("c-1") == 1


async def test_a_constant_failure_policy_sets_interval_and_retries(service: ReminderService) -> None:
    fires = Fires(lambda r, n: False)
    await watching(service, "Cart", fires)
    await service.create(rem("c-1", failure_policy=FailurePolicy(interval=0.2, max_retries=2)))
    await eventually(lambda: fires.count("c-1") == 3, timeout=5)  # the attempt and two retries
    times = [t for t, _ in fires.calls]
    assert times[2] - times[0] == pytest.approx(0.4, abs=0.3)
    await asyncio.sleep(1.0)
    assert fires.count("c-1") == 3


async def test_a_raising_fire_is_retried(service: ReminderService) -> None:
    calls: list[Reminder] = []

    async def fire(reminder: Reminder) -> bool:
        calls.append(reminder)
        if len(calls) == 1:
            raise RuntimeError("the actor's host is away")
        return True

    service.watch(["Cart"], fire)
    await eventually(lambda: service.connected("Cart"))
    await service.create(rem("c-1"))
    await eventually(lambda: len(calls) == 2, timeout=5)


async def test_two_sidecars_share_the_triggers_and_none_fires_twice(address: str) -> None:
    a, b = ReminderService([address], "default", "app1"), ReminderService([address], "default", "app2")
    fa, fb = Fires(), Fires()
    try:
        await watching(a, "Cart", fa)
        await watching(b, "Cart", fb)
        for i in range(100):
            await a.create(rem(f"once-{i}", due="300ms"))
            await b.create(rem(f"rep-{i}", due="300ms", period="R3/PT0.4S"))
        await eventually(lambda: (fa.ids() + fb.ids()).total() == 400)
        await asyncio.sleep(1.0)
        total = fa.ids() + fb.ids()
        assert all(total[f"once-{i}"] == 1 for i in range(100))
        assert all(total[f"rep-{i}"] == 3 for i in range(100))
        assert total.total() == 400
        assert fa.ids().total() > 50 and fb.ids().total() > 50
    finally:
        await a.close()
        await b.close()


async def test_one_sidecar_gone_the_other_gets_all(address: str) -> None:
    a, b = ReminderService([address], "default", "app1"), ReminderService([address], "default", "app1")
    fa, fb = Fires(), Fires()
    try:
        await watching(a, "Cart", fa)
        await watching(b, "Cart", fb)
        for i in range(1200):
            await a.create(rem(f"c-{i}", period="1s"))
        await eventually(lambda: len(fa.ids() + fb.ids()) == 1200, timeout=20)
        assert fa.ids() and fb.ids()
        await a.close()  # this sidecar goes away; its reminders move to the other
        gone = time.monotonic()
        await eventually(
            lambda: len({r.key.actor_id for t, r in fb.calls if t > gone + 0.1}) == 1200, timeout=20
        )
    finally:
        await a.close()
        await b.close()


async def test_reminders_survive_sidecar_and_scheduler_restarts(scheds: Schedulers, storage: str) -> None:
    s = scheds.start(storage)
    first = ReminderService([s.address], "default", "app1")
    fires = Fires()
    try:
        await watching(first, "Cart", fires)
        await first.create(rem("c-1", period="300ms", data=b"kept"))
        await eventually(lambda: fires.count("c-1") >= 1)
    finally:
        await first.close()
    s.kill()  # the scheduler dies with the sidecar
    s = scheds.start(storage, port=s.port)
    again = ReminderService([s.address], "default", "app1")
    later = Fires()
    try:
        await watching(again, "Cart", later)
        await eventually(lambda: later.count("c-1") >= 3)
        assert {r.data for _, r in later.calls} == {b"kept"}
        assert (await again.get(ActorKey("Cart", "c-1"), "r")) == rem("c-1", period="300ms", data=b"kept")
    finally:
        await again.close()


async def test_delete_all_stops_them(service: ReminderService) -> None:
    fires = Fires()
    await watching(service, "Cart", fires)
    for i in range(50):
        await service.create(rem(f"c-{i}", period="250ms"))
    await eventually(lambda: len(fires.ids()) == 50)
    await service.delete_all("Cart")
    seen = await settled(lambda: len(fires.calls))
    await asyncio.sleep(1.0)
    assert len(fires.calls) == seen
    assert await service.list("Cart") == []


# A second sidecar's reminder service in its own process, so it can die with SIGKILL.
_WATCHER = """
import asyncio, sys
from pydapr.actors.reminders import ReminderService

async def main():
    svc = ReminderService([sys.argv[1]], "default", "app2")

    async def fire(reminder):
        print(reminder.key.actor_id, flush=True)
        return True

    svc.watch(["Cart"], fire)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_a_killed_sidecar_s_reminders_keep_firing_on_the_other(address: str, tmp_path: Path) -> None:
    survivor = ReminderService([address], "default", "app1")
    fires = Fires()
    out = tmp_path / "killed.out"
    with out.open("wb") as sink:
        killed = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _WATCHER, address, stdout=sink, start_new_session=True
        )
    try:
        await watching(survivor, "Cart", fires)
        await asyncio.sleep(1.0)  # the other process connects too
        for i in range(1200):
            await survivor.create(rem(f"c-{i}", period="1s"))
        await eventually(lambda: len(fires.ids()) > 300, timeout=20)
        await asyncio.sleep(1.5)
        os.killpg(killed.pid, signal.SIGKILL)
        await asyncio.wait_for(killed.wait(), 10)
        fired_there = set(out.read_text().split())
        assert len(fired_there) > 300  # it did hold a share of them
        gone = time.monotonic()
        await eventually(
            lambda: len({r.key.actor_id for t, r in fires.calls if t > gone + 0.5}) == 1200, timeout=20
        )
    finally:
        if killed.returncode is None:
            os.killpg(killed.pid, signal.SIGKILL)
            await asyncio.wait_for(killed.wait(), 10)
        await survivor.close()
