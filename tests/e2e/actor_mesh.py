"""Pieces the actor failure tests share: placement replicas, actor hosts (an app and its sidecar),
and a driver that keeps calling actors through the Dapr HTTP API and records every answer.

Everything is started through ``Processes`` (tests/e2e/harness.py), so the fixtures stop it.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.e2e.harness import Proc, Processes, Sidecar, free_port, wait_port

APPS = Path(__file__).parent / "apps"


def redis_actor_store(resources: Path, name: str = "actorstore") -> None:
    """A Redis state store marked as the actor state store; keys carry the app id, so a test with
    its own app id has its own keys (the test deletes them)."""
    resources.mkdir(parents=True, exist_ok=True)
    (resources / "actorstore.yaml").write_text(
        f"""apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: {name}
spec:
  type: state.redis
  version: v1
  metadata:
  - name: redisHost
    value: 127.0.0.1:6379
  - name: actorStateStore
    value: "true"
"""
    )


def start_placement(procs: Processes, replica_id: str, store: str) -> tuple[Proc, str]:
    """One ``pydapr placement`` replica on ``store``; returns it and its address."""
    port = free_port()
    argv = [sys.executable, "-m", "pydapr", "placement", "--port", str(port), "--id", replica_id]
    proc = procs.spawn(f"placement-{replica_id}", [*argv, "--store", store])
    wait_port(port, proc=proc)
    return proc, f"127.0.0.1:{port}"


def start_scheduler(procs: Processes) -> str:
    """``pydapr scheduler`` on a SQLite file of the test's; returns its address."""
    port = free_port()
    argv = [sys.executable, "-m", "pydapr", "scheduler", "--port", str(port)]
    proc = procs.spawn("scheduler", [*argv, "--storage", f"sqlite://{procs.workdir}/scheduler.db"])
    wait_port(port, proc=proc)
    return f"127.0.0.1:{port}"


def metadata(sidecar: Sidecar) -> dict[str, Any]:
    with urllib.request.urlopen(sidecar.url + "/v1.0/metadata", timeout=2) as resp:
        return dict(json.loads(resp.read()))


def wait_hosting(sidecar: Sidecar, actor_type: str, timeout: float = 30.0) -> None:
    """Until the sidecar's metadata lists ``actor_type`` among its actors (daprd: once it read the
    app's /dapr/config and reported the type to placement)."""
    deadline = time.monotonic() + timeout
    seen: Any = None
    while time.monotonic() < deadline:
        if not sidecar.alive:
            raise RuntimeError(f"{sidecar.name} exited:\n{sidecar.log()}")
        try:
            seen = metadata(sidecar)
        except OSError:
            seen = None
        if seen is not None:
            runtime = seen.get("actorRuntime") or {}
            types = {a.get("type") for a in runtime.get("activeActors") or seen.get("actors") or []}
            placement = str(runtime.get("placement", ""))
            if actor_type in types and "connected" in placement and "disconnected" not in placement:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{sidecar.name} does not host {actor_type}: {seen}\n{sidecar.log()[-4000:]}")


def wait_placement(sidecar: Sidecar, timeout: float = 30.0) -> None:
    """Until the sidecar's metadata says it is connected to placement (daprd: ``actorRuntime.
    placement`` is ``placement: connected``)."""
    deadline = time.monotonic() + timeout
    seen: Any = None
    while time.monotonic() < deadline:
        try:
            seen = metadata(sidecar)
        except OSError:
            seen = None
        placement = str((seen.get("actorRuntime") or {}).get("placement", "")) if seen else ""
        if "connected" in placement and "disconnected" not in placement:
            return
        time.sleep(0.1)
    raise TimeoutError(f"{sidecar.name} not connected to placement: {seen}\n{sidecar.log()[-4000:]}")


@dataclass
class ActorHost:
    """An actor app and its sidecar, started and killed together or apart."""

    name: str
    app: Proc
    sidecar: Sidecar
    log: Path
    killing_at: float | None = None  # just before the SIGKILL: calls in flight may fail from here
    killed_at: float | None = None  # both gone: nothing runs on them after this

    def kill(self, *, app_too: bool) -> float:
        """SIGKILLs the sidecar (and the app when ``app_too``); returns ``killing_at``."""
        self.killing_at = time.monotonic()
        for proc in (self.sidecar, self.app) if app_too else (self.sidecar,):
            proc.signal(signal.SIGKILL)
            proc.popen.wait(10)
        self.killed_at = time.monotonic()
        return self.killing_at


def start_host(
    procs: Processes,
    *,
    name: str,
    app_id: str,
    script: Path,
    placement: Sequence[str],
    resources: Path,
    actor_type: str,
    env: dict[str, str] | None = None,
    sidecar_args: Sequence[str] = (),
    wait: bool = True,
) -> ActorHost:
    """A sidecar named ``name`` (app id ``app_id``, shared by the replicas) with its app; the app
    logs to ``<workdir>/<name>.jsonl``. Waits until the sidecar hosts ``actor_type`` if ``wait``."""
    app_port = free_port()
    log = procs.workdir / f"{name}.jsonl"
    args = ["--placement-host-address", ",".join(placement), "--log-level", "info", *sidecar_args]
    sidecar = procs.sidecar(app_id, app_port=app_port, resources=resources, args=args, wait=False)
    app_env = {
        "APP_PORT": str(app_port),
        "DAPR_HTTP_PORT": str(sidecar.http_port),
        "DAPR_GRPC_PORT": str(sidecar.grpc_port),
        "SIDECAR_NAME": name,
        "ACTIVATION_LOG": str(log),
        "RECORD": str(log),
        **(env or {}),
    }
    app = procs.app(name, script, env=app_env)
    host = ActorHost(name, app, sidecar, log)
    if wait:
        wait_port(app_port, proc=app)
        procs.wait_healthy(sidecar, "/v1.0/healthz")
        wait_hosting(sidecar, actor_type)
    return host


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    # A line cut by a SIGKILL mid-write is the only partial one: the last.
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


# --- the driver -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    actor_id: str
    started: float  # time.monotonic()
    ended: float
    status: int  # 0: no answer (connection failed or the client timed out)
    body: Any
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass
class Driver:
    """Keeps calling ``method`` on ``ids`` through one sidecar's HTTP API at about ``rate`` calls/s,
    each id by one worker at a time (so an id's answers come in the order they ran), until stopped.

    Each call may take up to ``call_timeout`` s: a call that waits on the runtime (a table being
    rebuilt, the runtime's own retries) counts as answered if it is answered in that time."""

    url: str
    actor_type: str
    ids: Sequence[str]
    method: str
    rate: float = 100.0
    workers: int = 40
    call_timeout: float = 30.0
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def call_url(self, actor_id: str) -> str:
        return f"{self.url}/v1.0/actors/{self.actor_type}/{actor_id}/method/{self.method}"

    async def _call(self, session: aiohttp.ClientSession, actor_id: str) -> Answer:
        t0 = time.monotonic()
        try:
            async with session.put(self.call_url(actor_id), data=b"") as resp:
                raw = await resp.read()
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                return Answer(actor_id, t0, time.monotonic(), resp.status, body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Answer(actor_id, t0, time.monotonic(), 0, None, repr(exc))

    async def _worker(self, session: aiohttp.ClientSession, mine: Sequence[str]) -> None:
        pause = len(self.ids) / self.rate / len(mine) if mine else 1.0
        i = 0
        while not self._stop.is_set():
            t0 = time.monotonic()
            self.answers.append(await self._call(session, mine[i % len(mine)]))
            i += 1
            await asyncio.sleep(max(0.0, pause - (time.monotonic() - t0)))

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.call_timeout)
        connector = aiohttp.TCPConnector(limit=self.workers)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            groups = [self.ids[w :: self.workers] for w in range(self.workers)]
            await asyncio.gather(*(self._worker(session, g) for g in groups if g))

    def start(self) -> None:
        self._thread = threading.Thread(target=asyncio.run, args=(self._run(),), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.call_timeout + 5)

    def warm_up(self, timeout: float = 30.0) -> None:
        """Calls every id once, retrying each until it is answered (activates them all)."""

        async def run() -> None:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
                pending = list(self.ids)
                deadline = time.monotonic() + timeout
                last: Answer | None = None
                while pending:
                    assert time.monotonic() < deadline, f"not answered in {timeout}s: {pending[:5]} {last}"
                    got = await asyncio.gather(*(self._call(session, i) for i in pending[:50]))
                    for answer in got:
                        if answer.ok:
                            pending.remove(answer.actor_id)
                            self.answers.append(answer)
                        else:
                            last = answer
                    if last is not None and pending:
                        await asyncio.sleep(0.2)

        asyncio.run(run())


def failures(answers: Sequence[Answer], allowed: Callable[[Answer], bool] = lambda _: False) -> list[Answer]:
    return [a for a in answers if not a.ok and not allowed(a)]


def overlaps(logs: dict[str, list[dict[str, Any]]], ends: dict[str, float]) -> list[str]:
    """Activation intervals of one actor id on two sidecars at once. ``logs`` are the apps'
    activation logs by sidecar name; an interval runs from an ``activate`` to the next
    ``deactivate`` of that id on that sidecar, or to ``ends[sidecar]`` (when it was killed), or on
    for ever (still active)."""
    intervals: dict[str, list[tuple[float, float, str]]] = {}
    for name, events in logs.items():
        open_at: dict[str, float] = {}
        for ev in sorted(events, key=lambda e: float(e["t"])):
            if ev["ev"] == "activate":
                open_at[ev["id"]] = float(ev["t"])
            elif ev["ev"] == "deactivate" and ev["id"] in open_at:
                intervals.setdefault(ev["id"], []).append((open_at.pop(ev["id"]), float(ev["t"]), name))
        for actor_id, t in open_at.items():
            intervals.setdefault(actor_id, []).append((t, ends.get(name, float("inf")), name))
    found = []
    for actor_id, spans in intervals.items():
        spans.sort()
        latest = spans[0]  # the span that ends last among those seen so far
        for span in spans[1:]:
            if span[0] < latest[1] and span[2] != latest[2]:
                a0, a1, an = latest
                b0, b1, bn = span
                found.append(f"{actor_id}: {an} [{a0:.3f}, {a1:.3f}] and {bn} [{b0:.3f}, {b1:.3f}]")
            if span[1] > latest[1]:
                latest = span
    return found
