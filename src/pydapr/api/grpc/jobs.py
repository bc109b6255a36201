"""gRPC adapter of the jobs API: ``ScheduleJob``, ``GetJob``, ``DeleteJob``, ``ListJobs``,
``DeleteJobsByPrefix`` and their Alpha1 aliases, as the official SDKs call them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydapr.api.grpc.wire import runtime

if TYPE_CHECKING:
    from pydapr.jobs.api import JobsAPI


class JobsGrpc:
    def __init__(self, api: JobsAPI) -> None:
        self.api = api

    async def ScheduleJob(self, request: Any, context: Any) -> Any:
        await self.api.schedule(request.job if request.HasField("job") else None, request.overwrite)
        return runtime.ScheduleJobResponse()

    async def GetJob(self, request: Any, context: Any) -> Any:
        return runtime.GetJobResponse(job=await self.api.get(request.name))

    async def DeleteJob(self, request: Any, context: Any) -> Any:
        await self.api.delete(request.name)
        return runtime.DeleteJobResponse()

    async def ListJobs(self, request: Any, context: Any) -> Any:
        return runtime.ListJobsResponse(jobs=await self.api.list_jobs())

    async def ListJobsAlpha1(self, request: Any, context: Any) -> Any:
        return runtime.ListJobsResponseAlpha1(jobs=await self.api.list_jobs())

    async def DeleteJobsByPrefix(self, request: Any, context: Any) -> Any:
        await self.api.delete_prefix(request.name_prefix)
        return runtime.DeleteJobsByPrefixResponse()

    async def DeleteJobsByPrefixAlpha1(self, request: Any, context: Any) -> Any:
        await self.api.delete_prefix(request.name_prefix)
        return runtime.DeleteJobsByPrefixResponseAlpha1()

    # The Alpha1 RPCs take and return the same messages as the stable ones.
    ScheduleJobAlpha1 = ScheduleJob
    GetJobAlpha1 = GetJob
    DeleteJobAlpha1 = DeleteJob
