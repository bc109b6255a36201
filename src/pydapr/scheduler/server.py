"""The scheduler's gRPC service: job CRUD for sidecars and the watch stream that carries triggers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any, TypeAlias

import grpc

from pydapr.grpc_serving import serve
from pydapr.jobs.schedule import ScheduleError
from pydapr.scheduler._proto import scheduler_pb2 as pb
from pydapr.scheduler._proto import scheduler_pb2_grpc as pb_grpc
from pydapr.scheduler.engine import Connection, Engine
from pydapr.scheduler.records import new_record
from pydapr.scheduler.store import JobExistsError, JobStore

log = logging.getLogger("pydapr.scheduler")

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"


class SchedulerService(pb_grpc.SchedulerServicer):
    def __init__(self, store: JobStore, engine: Engine) -> None:
        self.store = store
        self.engine = engine

    async def ScheduleJob(self, request: pb.ScheduleJobRequest, context: Context) -> pb.ScheduleJobResponse:
        job = request.job
        if not request.app_id or not job.name:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "app id and job name are required")
        try:
            rec = new_record(request.namespace, request.app_id, job, self.store.partitions, datetime.now(UTC))
        except ScheduleError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        if rec is None:  # its ttl ends before its first occurrence: nothing will ever fire
            await self.store.delete(request.namespace, request.app_id, job.name)
            return pb.ScheduleJobResponse()
        try:
            await self.store.put(rec, request.overwrite)
        except JobExistsError:
            await context.abort(grpc.StatusCode.ALREADY_EXISTS, f"job already exists: {job.name}")
        self.engine.forget(request.namespace, request.app_id, job.name)
        self.engine.wake()
        return pb.ScheduleJobResponse()

    async def GetJob(self, request: pb.JobRef, context: Context) -> pb.GetJobResponse:
        rec = await self.store.get(request.namespace, request.app_id, request.name)
        if rec is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"job not found: {request.name}")
            raise AssertionError("unreachable")
        return pb.GetJobResponse(job=pb.Job.FromString(rec.spec))

    async def DeleteJob(self, request: pb.JobRef, context: Context) -> pb.DeleteResponse:
        deleted = await self.store.delete(request.namespace, request.app_id, request.name)
        self.engine.forget(request.namespace, request.app_id, request.name)
        return pb.DeleteResponse(deleted=int(deleted))

    async def ListJobs(self, request: pb.ListJobsRequest, context: Context) -> pb.ListJobsResponse:
        recs = await self.store.list_jobs(request.namespace, request.app_id)
        return pb.ListJobsResponse(jobs=[pb.Job.FromString(r.spec) for r in recs])

    async def DeleteJobsByPrefix(
        self, request: pb.DeleteJobsByPrefixRequest, context: Context
    ) -> pb.DeleteResponse:
        n = await self.store.delete_prefix(request.namespace, request.app_id, request.prefix)
        return pb.DeleteResponse(deleted=n)

    async def WatchJobs(
        self, request_iterator: AsyncIterator[pb.WatchRequest], context: Context
    ) -> AsyncIterator[pb.Triggers]:
        first = await anext(aiter(request_iterator), None)
        if first is None or not first.HasField("hello") or not first.hello.app_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first message must be a hello")
            return
        hello = first.hello
        conn = self.engine.connect(hello.namespace, hello.app_id, hello.instance_id or uuid.uuid4().hex)
        log.info("sidecar %s/%s (%s) connected", hello.namespace, hello.app_id, hello.instance_id)
        reader = asyncio.create_task(self._read_results(request_iterator, conn))
        try:
            while not reader.done():
                msg = conn.take()
                if msg is not None:
                    yield msg
                    continue
                waiter = asyncio.create_task(conn.ready.wait())
                try:
                    await asyncio.wait({waiter, reader}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    # Also when the call is cancelled here (the sidecar hung up): a waiter left
                    # pending is destroyed with the connection ("Task was destroyed but it is pending").
                    waiter.cancel()
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
            self.engine.disconnect(conn)
            log.info("sidecar %s (%s) disconnected", conn.app, conn.instance_id)

    async def _read_results(self, requests: AsyncIterator[pb.WatchRequest], conn: Connection) -> None:
        async for msg in requests:
            if msg.HasField("results"):
                for r in msg.results.results:
                    self.engine.result(conn, r.id, r.ok)


async def start_server(
    service: SchedulerService,
    host: str,
    port: int,
    *,
    any_port_if_taken: bool = False,
    credentials: Callable[[], grpc.ServerCredentials] | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Serves ``service``; raises OSError when ``host:port`` cannot be bound."""
    return await serve(
        lambda server: pb_grpc.add_SchedulerServicer_to_server(service, server),  # type: ignore[no-untyped-call]
        host,
        port,
        any_port_if_taken=any_port_if_taken,
        credentials=credentials,
    )
