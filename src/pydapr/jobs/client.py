"""The sidecar's client of the scheduler: job CRUD and the watch streams that bring triggers.

A sidecar opens one watch stream to every scheduler address it was given (each replica fires the
jobs of the partitions it leases) and reconnects when a stream breaks. CRUD calls go to any replica.
An occurrence already delivered is not delivered again when a replica re-sends it after a failover.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf.any_pb2 import Any as AnyPb

from pydapr.resiliency import Permanent, Policy, PolicyTimeout, RetrySchedule
from pydapr.scheduler._proto import scheduler_pb2 as pb
from pydapr.scheduler._proto import scheduler_pb2_grpc as pb_grpc
from pydapr.security.mtls import ChannelFactory, plain_channel, retire

log = logging.getLogger("pydapr.jobs")

Deliver = Callable[[str, AnyPb], Awaitable[bool]]
T = TypeVar("T")
_RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
# A scheduler call that could not reach a replica moves to the next one, 100 ms later.
REPLICA_FAILOVER = Policy(name="scheduler-replicas", retry=RetrySchedule(duration=0.1))


class _Delivered:
    """Occurrences delivered recently, and those being delivered right now (keyed by occurrence)."""

    def __init__(self, limit: int = 100_000) -> None:
        self.done: OrderedDict[str, None] = OrderedDict()
        # An occurrence being delivered; the future exists only once a re-send waits for it.
        self.running: dict[str, asyncio.Future[bool] | None] = {}
        self.limit = limit

    async def once(self, occurrence: str, name: str, data: AnyPb, deliver: Deliver) -> bool:
        if occurrence in self.done:
            return True
        if occurrence in self.running:
            fut = self.running[occurrence]
            if fut is None:
                fut = self.running[occurrence] = asyncio.get_running_loop().create_future()
            return await asyncio.shield(fut)
        self.running[occurrence] = None
        ok = False
        try:
            ok = await deliver(name, data)
        finally:
            waiting = self.running.pop(occurrence)
            if waiting is not None:
                waiting.set_result(ok)
        if ok:
            self.done[occurrence] = None
            if len(self.done) > self.limit:
                self.done.popitem(last=False)
        return ok


# Where a stream's answers go: (trigger id, ok) pairs, and the event that wakes its writer.
_Answers = tuple[list[tuple[int, bool]], asyncio.Event]
# A delivering worker lets the stream's reader and writer run after this many triggers in a row
# (an app that answers without waiting would otherwise hold the loop for a whole burst).
_YIELD_EVERY = 64


class SchedulerClient:
    def __init__(
        self,
        addresses: list[str],
        namespace: str,
        app_id: str,
        *,
        concurrency: int = 512,
        open_channel: ChannelFactory = plain_channel,
    ) -> None:
        if not addresses:
            raise ValueError("no scheduler address")
        self.namespace = namespace
        self.app_id = app_id
        self.instance_id = uuid.uuid4().hex
        self.addresses = list(addresses)
        self._open_channel = open_channel
        self._channels = [open_channel(a) for a in addresses]
        self._stubs = [pb_grpc.SchedulerStub(c) for c in self._channels]  # type: ignore[no-untyped-call]
        self._next = 0
        self._delivered = _Delivered()
        # Triggers wait here for one of at most ``concurrency`` workers, instead of a task each.
        self._queue: deque[tuple[pb.Trigger, _Answers]] = deque()
        self._concurrency = concurrency
        self._workers = 0
        self._starting = 0  # workers spawned that have not run yet
        self._tasks: set[asyncio.Task[Any]] = set()
        self.connected = [False] * len(addresses)

    # --- CRUD ----------------------------------------------------------------------------------
    async def _call(self, fn: Callable[[pb_grpc.SchedulerStub], Awaitable[T]], timeout: float = 30.0) -> T:
        """Call one replica; on UNAVAILABLE try the next, under ``REPLICA_FAILOVER`` for up to
        ``timeout`` seconds overall."""

        unreachable: list[grpc.aio.AioRpcError] = []

        async def attempt() -> T:
            stub = self._stubs[self._next % len(self._stubs)]
            try:
                return await fn(stub)
            except grpc.aio.AioRpcError as err:
                if err.code() not in _RETRYABLE:
                    raise Permanent(err) from None
                unreachable.append(err)
                self._next += 1  # the next attempt goes to the next replica
                raise

        try:
            return await REPLICA_FAILOVER.run(attempt, deadline=time.monotonic() + timeout)
        except PolicyTimeout:
            if unreachable:  # out of time: the caller sees why the replicas could not be reached
                raise unreachable[-1] from None
            raise

    async def schedule(self, job: pb.Job, overwrite: bool) -> None:
        req = pb.ScheduleJobRequest(
            namespace=self.namespace, app_id=self.app_id, job=job, overwrite=overwrite
        )
        await self._call(lambda s: s.ScheduleJob(req, timeout=10))

    async def get(self, name: str) -> pb.Job:
        ref = pb.JobRef(namespace=self.namespace, app_id=self.app_id, name=name)
        resp: pb.GetJobResponse = await self._call(lambda s: s.GetJob(ref, timeout=10))
        return resp.job

    async def delete(self, name: str) -> None:
        ref = pb.JobRef(namespace=self.namespace, app_id=self.app_id, name=name)
        await self._call(lambda s: s.DeleteJob(ref, timeout=10))

    async def list_jobs(self) -> list[pb.Job]:
        req = pb.ListJobsRequest(namespace=self.namespace, app_id=self.app_id)
        resp: pb.ListJobsResponse = await self._call(lambda s: s.ListJobs(req, timeout=10))
        return list(resp.jobs)

    async def delete_prefix(self, prefix: str) -> int:
        req = pb.DeleteJobsByPrefixRequest(namespace=self.namespace, app_id=self.app_id, prefix=prefix)
        resp: pb.DeleteResponse = await self._call(lambda s: s.DeleteJobsByPrefix(req, timeout=10))
        return resp.deleted

    def renew_channels(self) -> None:
        """New channels (with the certificate just rotated in) for every call from now on; the old
        ones, and the watch streams on them, go on until they end (a stream reconnects on a new one)."""
        old = self._channels
        self._channels = [self._open_channel(a) for a in self.addresses]
        self._stubs = [pb_grpc.SchedulerStub(c) for c in self._channels]  # type: ignore[no-untyped-call]
        retire(old)

    # --- triggers ------------------------------------------------------------------------------
    def watch(self, deliver: Deliver) -> None:
        """Start receiving triggers from every replica; ``deliver`` returns True when the app took it."""
        for i in range(len(self._stubs)):
            self._spawn(self._watch_one(i, deliver))

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _watch_one(self, index: int, deliver: Deliver) -> None:
        hello = pb.WatchRequest(
            hello=pb.Hello(namespace=self.namespace, app_id=self.app_id, instance_id=self.instance_id)
        )
        while True:
            call = self._stubs[index].WatchJobs()  # the current channel: renewed on rotation
            answers: _Answers = ([], asyncio.Event())
            writer = self._spawn(self._write_results(call, answers))
            try:
                await call.write(hello)
                self.connected[index] = True
                while True:
                    msg = await call.read()
                    if msg is grpc.aio.EOF:
                        break
                    self._queue.extend((trigger, answers) for trigger in msg.triggers)
                    self._more_workers(deliver)
            except grpc.aio.AioRpcError as err:
                log.debug("scheduler stream %d broke: %s", index, err.code())
            finally:
                self.connected[index] = False
                writer.cancel()
                call.cancel()
            await asyncio.sleep(0.5)

    def _more_workers(self, deliver: Deliver) -> None:
        """One more worker while triggers wait, unless one is about to start: workers grow one at
        a time, as far as deliveries are under way at once (up to ``concurrency``), not one per trigger."""
        if not self._starting and self._queue and self._workers < self._concurrency:
            self._workers += 1
            self._starting += 1
            self._spawn(self._work(deliver))

    async def _work(self, deliver: Deliver) -> None:
        """Deliver queued triggers until none is left; each answer goes to the stream it came on
        (a stream that broke meanwhile drops it: the scheduler re-sends what was not answered)."""
        self._starting -= 1
        queue = self._queue
        once = self._delivered.once
        done = 0
        try:
            while queue:
                trigger, (results, ready) = queue.popleft()
                if queue:
                    self._more_workers(deliver)  # in case this delivery waits
                ok = await once(trigger.occurrence, trigger.name, trigger.data, deliver)
                results.append((trigger.id, ok))
                ready.set()
                done += 1
                if done % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
        finally:
            self._workers -= 1

    @staticmethod
    async def _write_results(call: Any, answers: _Answers) -> None:
        results, ready = answers
        while True:
            await ready.wait()
            ready.clear()
            await asyncio.sleep(0.001)  # gather a burst of results into one message
            if not results:
                continue
            msg = pb.WatchRequest()
            add = msg.results.results.add
            for trigger_id, ok in results:
                add(id=trigger_id, ok=ok)
            del results[:]
            await call.write(msg)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for channel in self._channels:
            await channel.close()
