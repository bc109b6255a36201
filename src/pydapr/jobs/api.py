"""The jobs API, transport-free: what the HTTP and gRPC adapters both call.

Jobs are namespaced by the calling app: the app id and namespace come from this sidecar, never
from the request, so one app cannot read or delete another's jobs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from pydapr.errors import DaprError, ErrorKind
from pydapr.jobs import errors

if TYPE_CHECKING:
    import grpc

    from pydapr.jobs.client import SchedulerClient

T = TypeVar("T")

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

    async def _scheduler(
        self, kind: ErrorKind, call: Awaitable[T], by_code: Mapping[str, ErrorKind] | None = None
    ) -> T:
        """``call``'s result; a gRPC error from the scheduler becomes ``kind`` (or the kind
        ``by_code`` gives for its code's name), with the status as Go prints it."""
        import grpc  # loaded with the scheduler's client, which made ``call``

        try:
            return await call
        except grpc.aio.AioRpcError as err:
            raise self._fail((by_code or {}).get(err.code().name, kind), err) from None

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

        by_code = {
            "INVALID_ARGUMENT": errors.SCHEDULE_JOB_INVALID,
            "ALREADY_EXISTS": errors.SCHEDULE_JOB_EXISTS,
        }
        await self._scheduler(errors.SCHEDULE_JOB, client.schedule(to_scheduler(job), overwrite), by_code)

    async def get(self, name: str) -> Any:
        self._check_name(name)
        client = self._client(errors.GET_JOB)
        job = await self._scheduler(errors.GET_JOB, client.get(name))
        from pydapr.jobs.convert import to_runtime

        return to_runtime(job)

    async def delete(self, name: str) -> None:
        self._check_name(name)
        client = self._client(errors.DELETE_JOB)
        await self._scheduler(errors.DELETE_JOB, client.delete(name))

    async def list_jobs(self) -> list[Any]:
        client = self._client(errors.LIST_JOBS)
        from pydapr.jobs.convert import to_runtime

        return [to_runtime(j) for j in await self._scheduler(errors.LIST_JOBS, client.list_jobs())]

    async def delete_prefix(self, prefix: str) -> None:
        client = self._client(errors.DELETE_JOB)
        await self._scheduler(errors.DELETE_JOB, client.delete_prefix(prefix))
