"""Actors while sidecars and placement replicas die and join: every call is answered, no actor id
runs on two sidecars at once, and no update of an actor's state is lost.

The mesh: ``pydapr placement`` (one replica, or two on one SQLite store), hosting sidecars, each
with an app written with the official SDK (tests/e2e/apps/actor_churn_app.py: ``ChurnActor.Bump``
adds one to a counter in actor state and logs every activation and deactivation with its
sidecar's name and ``time.monotonic()``), all replicas of one app id on a shared Redis actor state
store; and a driver sidecar without an app, through which the test keeps calling ~200 actor ids
(``PUT /v1.0/actors/ChurnActor/{id}/method/Bump``), each id by one worker at a time.

What is asserted, from what a user sees:
- every call is answered 200, except calls in flight within ``SETTLE`` seconds after a hosting
  sidecar was SIGKILLed (see ``SETTLE``); none at all fails when a sidecar joins or when the
  placement leader dies;
- the counter an id answers goes up by exactly one per answered call (one more per failed call
  at most, which may have run before its answer was lost): a second activation elsewhere, or a
  stale activation coming back, would answer a repeated or an older value;
- the apps' logs show no id active on two sidecars at once: intervals [activate, deactivate] (or
  [activate, the kill] for a killed app) of one id never overlap across sidecars;
- the sidecars that joined took a share of the ids, and the killed sidecar's ids moved.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
import redis

from tests.e2e.actor_mesh import (
    APPS,
    ActorHost,
    Answer,
    Driver,
    failures,
    overlaps,
    read_jsonl,
    redis_actor_store,
    start_host,
    start_placement,
    wait_placement,
)
from tests.e2e.harness import Processes

pytestmark = [pytest.mark.e2e, pytest.mark.serial]

TYPE = "ChurnActor"
APP = APPS / "actor_churn_app.py"
IDS = 200
RATE = 100.0  # calls/s over all ids: every id about every 2 s, well inside two shared CPUs

# Calls may fail only while they overlap [kill, kill + SETTLE]. A SIGKILL closes the dead sidecar's
# placement stream at once; placement waits its reconnect grace (a few seconds at most, so a
# sidecar that comes straight back does not cause two rebalances), then runs one round (lock ->
# update -> unlock, acknowledged by every sidecar). A call sent to the dead host before the new
# table arrived fails its connection; the caller retries it (daprd: DaprBuiltInActorRetries,
# 3 x 1 s), and a call still unanswered then is a failure. Grace + round + those retries stay
# under 10 s; calls that start later must all be answered.
SETTLE = 10.0


@dataclass
class Mesh:
    procs: Processes
    run: str
    app_id: str
    placement: list[str]
    resources: Path
    hosts: dict[str, ActorHost] = field(default_factory=dict)

    def add_host(self, name: str) -> ActorHost:
        host = start_host(
            self.procs,
            name=name,
            app_id=self.app_id,
            script=APP,
            placement=self.placement,
            resources=self.resources,
            actor_type=TYPE,
        )
        self.hosts[name] = host
        return host

    def driver(self, ids: Sequence[str]) -> Driver:
        caller = self.procs.sidecar(
            f"churn-driver-{self.run}",
            resources=self.resources,
            args=["--placement-host-address", ",".join(self.placement)],
        )
        return Driver(caller.url, TYPE, ids, "Bump", rate=RATE)

    def logs(self) -> dict[str, list[dict[str, object]]]:
        return {name: read_jsonl(host.log) for name, host in self.hosts.items()}

    def kill_times(self) -> dict[str, float]:
        return {n: h.killed_at for n, h in self.hosts.items() if h.killed_at is not None}


@pytest.fixture
def mesh_factory(procs: Processes) -> Iterator[object]:
    run = uuid.uuid4().hex[:8]

    def make(placement: list[str]) -> Mesh:
        resources = procs.workdir / "resources"
        redis_actor_store(resources)
        return Mesh(procs, run, f"churn-{run}", placement, resources)

    yield make
    r = redis.Redis(host="127.0.0.1", port=6379)
    for key in r.scan_iter(match=f"*churn-{run}*"):
        r.delete(key)
    r.close()


def counters_consistent(answers: Sequence[Answer]) -> list[str]:
    """Per id, in the order the calls ran: each answered counter is the previous answer + 1, or +
    up to 1 + the failed calls between them (a failed call may have run). A first answer after a
    failure may be 2; a first answer otherwise is 1."""
    problems = []
    by_id: dict[str, list[Answer]] = {}
    for a in sorted(answers, key=lambda a: a.started):
        by_id.setdefault(a.actor_id, []).append(a)
    for actor_id, calls in by_id.items():
        last, lost = 0, 0
        for a in calls:
            if not a.ok:
                lost += 1
                continue
            n = int(a.body["n"])
            if not last + 1 <= n <= last + 1 + lost:
                problems.append(f"{actor_id}: answered {n} after {last} ({lost} failed between)")
            last, lost = n, 0
    return problems


def served_by(answers: Sequence[Answer], since: float = 0.0) -> Counter[str]:
    return Counter(str(a.body["sidecar"]) for a in answers if a.ok and a.started >= since)


def describe(answers: Sequence[Answer], events: dict[str, float]) -> str:
    """The failed calls, each placed after the latest event (kill, join ...) before it started."""

    def when(t: float) -> str:
        before = [(at, name) for name, at in events.items() if at <= t]
        at, name = max(before) if before else (0.0, "start")
        return f"{name}+{t - at:.2f}s"

    shown = [
        f"{a.actor_id} at {when(a.started)} took {a.ended - a.started:.2f}s: {a.status} {a.body or a.error}"
        for a in answers
    ]
    return f"{len(answers)} failed calls, first ones:\n" + "\n".join(shown[:10])


def test_sidecars_killed_restarted_and_added_under_load(mesh_factory, procs: Processes) -> None:  # type: ignore[no-untyped-def]
    _, address = start_placement(procs, "p0", f"sqlite://{procs.workdir}/placement.db")
    mesh: Mesh = mesh_factory([address])
    for name in ("s1", "s2", "s3"):
        mesh.add_host(name)
    ids = [f"{mesh.run}-{i}" for i in range(IDS)]
    driver = mesh.driver(ids)
    driver.warm_up()
    spread = served_by(driver.answers)
    assert set(spread) == {"s1", "s2", "s3"}, f"placement put every id on a few hosts: {spread}"

    events: dict[str, float] = {}
    driver.start()
    try:
        time.sleep(4)
        killed_at = events["s1 killed"] = mesh.hosts["s1"].kill(app_too=True)  # sidecar and app
        time.sleep(8)
        restarted = events["s1-again starting"] = time.monotonic()
        mesh.add_host("s1-again")
        events["s1-again hosting"] = time.monotonic()
        time.sleep(6)
        added = events["s4 starting"] = time.monotonic()
        mesh.add_host("s4")
        events["s4 hosting"] = time.monotonic()
        time.sleep(6)
    finally:
        driver.stop()
    answers = driver.answers

    def in_settle_window(a: Answer) -> bool:
        return a.started < killed_at + SETTLE and a.ended > killed_at

    late = failures(answers, allowed=in_settle_window)
    assert not late, describe(late, events)
    assert not counters_consistent(answers), counters_consistent(answers)[:10]
    found = overlaps(mesh.logs(), mesh.kill_times())
    assert not found, f"{len(found)} ids active on two sidecars at once:\n" + "\n".join(found[:10])

    # The dead host's ids were answered elsewhere; the hosts that joined took a share.
    after_kill = served_by(answers, since=killed_at + SETTLE)
    assert "s1" not in after_kill
    assert served_by(answers, since=restarted)["s1-again"] > 0, served_by(answers, since=restarted)
    assert served_by(answers, since=added)["s4"] > 0, served_by(answers, since=added)
    # Every id was answered after the last host joined (each id every ~2 s for 6 s).
    assert {a.actor_id for a in answers if a.ok and a.started > added + 2} == set(ids)
    print(
        f"{len(answers)} calls, {len(failures(answers))} failed within {SETTLE}s of the kill; "
        f"answered by {dict(served_by(answers))}"
    )


def test_placement_leader_killed_standby_takes_over(mesh_factory, procs: Processes) -> None:  # type: ignore[no-untyped-def]
    store = f"sqlite://{procs.workdir}/placement-ha.db"
    # The first replica is alone when a probe sidecar connects to it: it holds the lease, it leads.
    leader, first = start_placement(procs, "p-a", store)
    probe = procs.sidecar(f"churn-probe-{uuid.uuid4().hex[:6]}", args=["--placement-host-address", first])
    wait_placement(probe)
    probe.stop()
    _, second = start_placement(procs, "p-b", store)
    mesh: Mesh = mesh_factory([first, second])
    for name in ("h1", "h2"):
        mesh.add_host(name)
    ids = [f"{mesh.run}-{i}" for i in range(IDS)]
    driver = mesh.driver(ids)
    driver.warm_up()
    events: dict[str, float] = {}
    driver.start()
    try:
        time.sleep(3)
        leader.signal(9)
        leader.popen.wait(10)
        leader_killed = events["leader killed"] = time.monotonic()
        time.sleep(8)
        # A sidecar joining now is placed only if the standby leads and runs rounds.
        events["h3 starting"] = time.monotonic()
        mesh.add_host("h3")
        joined = events["h3 hosting"] = time.monotonic()
        time.sleep(5)
    finally:
        driver.stop()
    answers = driver.answers

    failed = failures(answers)
    assert not failed, describe(failed, events)
    assert not counters_consistent(answers), counters_consistent(answers)[:10]
    found = overlaps(mesh.logs(), mesh.kill_times())
    assert not found, f"{len(found)} ids active on two sidecars at once:\n" + "\n".join(found[:10])
    during = [a for a in answers if leader_killed <= a.started < leader_killed + 8]
    assert during and all(a.ok for a in during)
    assert served_by(answers, since=joined)["h3"] > 0, served_by(answers, since=joined)
    slowest = max(a.ended - a.started for a in answers)
    print(
        f"{len(answers)} calls, none failed; slowest {slowest:.2f}s; answered by {dict(served_by(answers))}"
    )


@pytest.mark.parametrize("caller", ["warm", "fresh"])
def test_a_call_in_flight_when_its_host_is_killed_is_answered_by_the_next_owner(  # type: ignore[no-untyped-def]
    mesh_factory, procs: Processes, caller: str
) -> None:
    """daprd retries an actor call whose remote host drops the connection (gRPC UNAVAILABLE is not
    a permanent error in its router's callActor; DaprBuiltInActorNotFoundRetries runs it again
    after a new lookup), so a caller whose actor's host dies mid-call gets the answer of the next
    owner. At-least-once: the method may run twice, as with daprd. ``warm``: the caller sidecar
    has talked to the host before (its connection is reused); ``fresh``: a caller sidecar started
    just now opens a new connection for the call."""
    _, address = start_placement(procs, "p0", f"sqlite://{procs.workdir}/placement.db")
    mesh: Mesh = mesh_factory([address])
    for name in ("s1", "s2"):
        mesh.add_host(name)
    ids = [f"{mesh.run}-slow-{i}" for i in range(20)]
    driver = mesh.driver(ids)
    driver.warm_up()
    on_s1 = next(a.actor_id for a in driver.answers if a.body["sidecar"] == "s1")

    url = driver.url
    if caller == "fresh":
        fresh = procs.sidecar(
            f"churn-fresh-{mesh.run}", resources=mesh.resources, args=["--placement-host-address", address]
        )
        wait_placement(fresh)
        url = fresh.url
    slow = Driver(url, TYPE, [on_s1], "Sleep")
    result: list[Answer] = []

    async def call() -> None:
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            t0 = time.monotonic()
            async with session.put(slow.call_url(on_s1), json=2.0) as resp:
                body = await resp.json(content_type=None)
                result.append(Answer(on_s1, t0, time.monotonic(), resp.status, body))

    caller = threading.Thread(target=asyncio.run, args=(call(),))
    caller.start()
    time.sleep(0.8)  # the call is in s1's app now
    mesh.hosts["s1"].kill(app_too=True)
    caller.join(40)
    assert result, "the call did not end"
    answer = result[0]
    assert answer.ok and answer.body == {"slept": 2.0, "sidecar": "s2"}, answer
