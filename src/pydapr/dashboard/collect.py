"""One refresh of the dashboard: every running sidecar asked at once, each call with a short timeout.

Discovery (``running_instances``) already fetched each sidecar's metadata (components, subscriptions,
actors). This adds per sidecar, concurrently: ``GET /v1.0/healthz``, the jobs (``ListJobsAlpha1``)
and the workflows (durabletask ``ListInstanceIDs``, then ``GetInstance`` of each) on its gRPC port;
and the control plane's services, probed by TCP. A sidecar that does not answer costs at most the
timeout and is shown as such; it never holds the page. Concurrent page loads share one refresh, and
a refresh younger than ``max_age`` is served again (several open tabs cost one refresh per period).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc

from pydapr.api.grpc.wire import runtime
from pydapr.cli.instances import Instance, running_instances
from pydapr.controlplane.state import pid_alive, read_state
from pydapr.dashboard.model import ControlPlaneView, Job, Section, Service, SidecarView, Snapshot, Workflow
from pydapr.dashboard.nextrun import next_run
from pydapr.http.client import HttpClient, HttpClientError
from pydapr.security import tokens
from pydapr.workflows._proto import durabletask_pb2 as dt

log = logging.getLogger("pydapr.dashboard")

TIMEOUT = 0.8  # per call; a refresh of live sidecars is one round of calls, each well under this
# Health of a sidecar that gave discovery no metadata: one that is up but refuses the metadata call
# (another API token) answers healthz at once; one that hangs has already cost discovery's timeout.
RETRY_TIMEOUT = 0.25
MAX_WORKFLOWS = 50  # instances shown per app (the first page of ListInstanceIDs)

_LIST_JOBS = "/dapr.proto.runtime.v1.Dapr/ListJobsAlpha1"
_LIST_INSTANCES = "/TaskHubSidecarService/ListInstanceIDs"
_GET_INSTANCE = "/TaskHubSidecarService/GetInstance"
_STATUS_PREFIX = "ORCHESTRATION_STATUS_"


def _token_metadata() -> tuple[tuple[str, str], ...]:
    # The CLI's calls send the caller's DAPR_API_TOKEN; so do the dashboard's.
    with contextlib.suppress(tokens.TokenFileError):
        token = tokens.dapr_api_token()
        if token:
            return (("dapr-api-token", token),)
    return ()


def _rpc_error(exc: grpc.aio.AioRpcError) -> str:
    details = exc.details() or ""
    return f"{exc.code().name}: {details}" if details else exc.code().name


def _when(ts: Any) -> datetime | None:
    return ts.ToDatetime(tzinfo=UTC) if (ts.seconds or ts.nanos) else None


async def _guarded(section: Section, work: Awaitable[None]) -> None:
    """Runs one section's collection; what it did not expect becomes that section's error, so one
    odd answer costs one section of one app, not the refresh."""
    try:
        await work
    except Exception as exc:
        log.warning("dashboard: %s", exc, exc_info=True)
        section.error = f"{type(exc).__name__}: {exc}"


class Collector:
    def __init__(
        self,
        home: Path,
        *,
        timeout: float = TIMEOUT,
        max_age: float = 1.0,
    ) -> None:
        self.home = home
        self.timeout = timeout
        self.max_age = max_age
        self._http = HttpClient(connect_timeout=timeout, max_idle_per_host=2)
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._metadata = _token_metadata()
        self._running: asyncio.Task[Snapshot] | None = None
        self._last: Snapshot | None = None
        self._last_at = 0.0

    async def snapshot(self) -> Snapshot:
        """A refresh no older than ``max_age``; callers arriving during one wait for it."""
        if self._last is not None and time.monotonic() - self._last_at < self.max_age:
            return self._last
        if self._running is None:
            self._running = asyncio.ensure_future(self._collect())
            self._running.add_done_callback(self._finished)
        return await asyncio.shield(self._running)

    def _finished(self, task: asyncio.Task[Snapshot]) -> None:
        self._running = None
        if not task.cancelled() and task.exception() is None:
            self._last, self._last_at = task.result(), time.monotonic()

    async def close(self) -> None:
        if self._running is not None:
            self._running.cancel()
            with contextlib.suppress(BaseException):
                await self._running
        await self._http.close()
        channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            await channel.close()

    async def _collect(self) -> Snapshot:
        started = time.perf_counter()
        taken_at = datetime.now(UTC)
        control_plane = asyncio.ensure_future(self._control_plane())
        error = ""
        try:
            # Blocking file reads and the metadata round (in threads of its own): off the loop.
            instances = await asyncio.to_thread(running_instances, self.home, timeout=self.timeout)
        except Exception as exc:  # the page says discovery failed rather than failing itself
            instances, error = [], f"cannot list the running apps: {exc}"
        apps = await asyncio.gather(*(self._sidecar(inst) for inst in instances))
        await self._drop_channels({self._target(inst) for inst in instances})
        return Snapshot(
            taken_at=taken_at,
            apps=list(apps),
            control_plane=await control_plane,
            home=str(self.home),
            elapsed=time.perf_counter() - started,
            error=error,
        )

    # --- one sidecar ----------------------------------------------------------------------------

    async def _sidecar(self, inst: Instance) -> SidecarView:
        view = SidecarView(inst)
        calls = [self._health(view, self.timeout if inst.metadata is not None else RETRY_TIMEOUT)]
        if inst.metadata is not None:
            channel = self._channel(inst)
            calls += [
                _guarded(view.jobs, self._jobs(view, channel)),
                _guarded(view.workflows, self._workflows(view, channel)),
            ]
        else:
            # It did not answer discovery's metadata call in time: asking it more would only wait.
            view.jobs.error = view.workflows.error = "the sidecar did not answer"
        await asyncio.gather(*calls)
        return view

    async def _health(self, view: SidecarView, timeout: float) -> None:
        inst = view.instance
        try:
            resp = await self._http.request(
                "GET",
                inst.api_host,
                inst.http_port,
                "/v1.0/healthz",
                [("host", "localhost")],
                timeout=timeout,
                unix_path=inst.http_socket,
            )
        except (HttpClientError, OSError) as exc:
            view.health, view.health_detail = "unreachable", str(exc) or type(exc).__name__
            return
        if resp.status == 204:
            view.health = "healthy"
        else:
            view.health, view.health_detail = "unhealthy", f"healthz answered {resp.status}"

    @staticmethod
    def _target(inst: Instance) -> str:
        if inst.unix_domain_socket:
            return f"unix:{Path(inst.unix_domain_socket) / f'dapr-grpc-{inst.app_id}.socket'}"
        return f"{inst.api_host}:{inst.grpc_port}"

    def _channel(self, inst: Instance) -> grpc.aio.Channel:
        target = self._target(inst)
        channel = self._channels.get(target)
        if channel is None:
            channel = self._channels[target] = grpc.aio.insecure_channel(target)
        return channel

    async def _drop_channels(self, keep: set[str]) -> None:
        for target in [t for t in self._channels if t not in keep]:
            await self._channels.pop(target).close()

    async def _jobs(self, view: SidecarView, channel: grpc.aio.Channel) -> None:
        try:
            request, response = runtime.ListJobsRequestAlpha1, runtime.ListJobsResponseAlpha1
        except AttributeError:  # the dapr SDK's wire definitions gained ListJobs in 1.17
            view.jobs.error = "listing jobs needs the dapr package 1.17 or later beside pydapr"
            return
        call = channel.unary_unary(
            _LIST_JOBS,
            request_serializer=request.SerializeToString,
            response_deserializer=response.FromString,
        )
        try:
            resp = await call(request(), timeout=self.timeout, metadata=self._metadata)
        except grpc.aio.AioRpcError as exc:
            view.jobs.error = _rpc_error(exc)
            return
        now = datetime.now(UTC)
        for job in sorted(resp.jobs, key=lambda j: j.name):
            schedule = job.schedule if job.HasField("schedule") else ""
            due = job.due_time if job.HasField("due_time") else ""
            ttl = job.ttl if job.HasField("ttl") else ""
            repeats = job.repeats if job.HasField("repeats") else None
            view.jobs.items.append(
                Job(job.name, schedule, due, ttl, repeats, next_run(schedule, due, ttl, now))
            )

    async def _workflows(self, view: SidecarView, channel: grpc.aio.Channel) -> None:
        deadline = time.monotonic() + self.timeout
        list_ids = channel.unary_unary(
            _LIST_INSTANCES,
            request_serializer=dt.ListInstanceIDsRequest.SerializeToString,
            response_deserializer=dt.ListInstanceIDsResponse.FromString,
        )
        get = channel.unary_unary(
            _GET_INSTANCE,
            request_serializer=dt.GetInstanceRequest.SerializeToString,
            response_deserializer=dt.GetInstanceResponse.FromString,
        )
        try:
            page = await list_ids(
                dt.ListInstanceIDsRequest(pageSize=MAX_WORKFLOWS),
                timeout=self.timeout,
                metadata=self._metadata,
            )
            # Every instance at once, within what is left of the same timeout.
            left = max(deadline - time.monotonic(), 0.05)
            states = await asyncio.gather(
                *(
                    get(dt.GetInstanceRequest(instanceId=i), timeout=left, metadata=self._metadata)
                    for i in page.instanceIds
                )
            )
        except grpc.aio.AioRpcError as exc:
            view.workflows.error = _rpc_error(exc)
            return
        view.workflows.more = page.HasField("continuationToken")
        for instance_id, resp in zip(page.instanceIds, states, strict=True):
            if not resp.exists:
                continue  # purged between the two calls
            state = resp.workflowState
            failure = state.failureDetails.errorMessage if state.HasField("failureDetails") else ""
            view.workflows.items.append(
                Workflow(
                    instance_id=instance_id,
                    name=state.name,
                    status=dt.OrchestrationStatus.Name(state.workflowStatus).removeprefix(_STATUS_PREFIX),
                    created=_when(state.createdTimestamp),
                    updated=_when(state.lastUpdatedTimestamp),
                    failure=failure,
                )
            )

    # --- the control plane ----------------------------------------------------------------------

    async def _control_plane(self) -> ControlPlaneView | None:
        cp = read_state(self.home)
        if cp is None:
            return None
        names = list(cp.addresses)
        ups = await asyncio.gather(*(self._accepts(cp.addresses[n]) for n in names))
        return ControlPlaneView(
            pid=cp.pid,
            running=pid_alive(cp.pid),
            started_at=cp.started_at,
            services=[Service(n, cp.addresses[n], up) for n, up in zip(names, ups, strict=True)],
        )

    async def _accepts(self, address: str) -> bool:
        host, _, port = address.rpartition(":")
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(host.strip("[]"), int(port)), self.timeout
            )
        except (OSError, ValueError, TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True
