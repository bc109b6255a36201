"""The jobs API, transport-free: what the HTTP and gRPC adapters both call.

Jobs are namespaced by the calling app: the app id and namespace come from this sidecar, never
from the request, so one app cannot read or delete another's jobs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc

from pydapr.errors import DaprError, ErrorKind
from pydapr.jobs import errors

if TYPE_CHECKING:
    from pydapr.jobs.client import SchedulerClient

# The scheduler's client and messages (pydapr.jobs.client, .convert) are imported once a call has
# a client: a sidecar with no --scheduler-host-address never loads them.


class JobsAPI:
    def __init__(self, client: SchedulerClient | None, app_id: str, namespace: str) -> None:
        self.client = client
        self.meta = {"appID": app_id, "namespace": namespace}

    def _client(self, kind: ErrorKind) -> SchedulerClient:
        if self.client is None:
            raise kind(errors.NO_SCHEDULER, metadata=self.meta)
        return self.client

    def _fail(self, kind: ErrorKind, err: grpc.aio.AioRpcError) -> DaprError:
        return kind(f"rpc error: code = {err.code().name} desc = {err.details()}", metadata=self.meta)

    def _check_name(self, name: str) -> None:
        if not name or "|" in name:
            raise errors.NAME_EMPTY(metadata=self.meta)

    async def schedule(self, job: Any, overwrite: bool) -> None:
        if job is None:
            raise errors.JOB_EMPTY(metadata=self.meta)
        self._check_name(job.name)
        if not job.HasField("schedule") and not job.HasField("due_time"):
            raise errors.SCHEDULE_EMPTY(metadata=self.meta)
        client = self._client(errors.SCHEDULE_JOB)
        from pydapr.jobs.convert import to_scheduler

        try:
            await client.schedule(to_scheduler(job), overwrite)
        except grpc.aio.AioRpcError as err:
            kind = {
                grpc.StatusCode.INVALID_ARGUMENT: errors.SCHEDULE_JOB_INVALID,
                grpc.StatusCode.ALREADY_EXISTS: errors.SCHEDULE_JOB_EXISTS,
            }.get(err.code(), errors.SCHEDULE_JOB)
            raise self._fail(kind, err) from None

    async def get(self, name: str) -> Any:
        self._check_name(name)
        client = self._client(errors.GET_JOB)
        try:
            job = await client.get(name)
        except grpc.aio.AioRpcError as err:
            raise self._fail(errors.GET_JOB, err) from None
        from pydapr.jobs.convert import to_runtime

        return to_runtime(job)

    async def delete(self, name: str) -> None:
        self._check_name(name)
        client = self._client(errors.DELETE_JOB)
        try:
            await client.delete(name)
        except grpc.aio.AioRpcError as err:
            raise self._fail(errors.DELETE_JOB, err) from None

    async def list_jobs(self) -> list[Any]:
        client = self._client(errors.LIST_JOBS)
        from pydapr.jobs.convert import to_runtime

        try:
            return [to_runtime(j) for j in await client.list_jobs()]
        except grpc.aio.AioRpcError as err:
            raise self._fail(errors.LIST_JOBS, err) from None

    async def delete_prefix(self, prefix: str) -> None:
        client = self._client(errors.DELETE_JOB)
        try:
            await client.delete_prefix(prefix)
        except grpc.aio.AioRpcError as err:
            raise self._fail(errors.DELETE_JOB, err) from None
