"""gRPC adapter of the jobs API: ``ScheduleJob``, ``GetJob``, ``DeleteJob``, ``ListJobs``,
``DeleteJobsByPrefix`` and their Alpha1 aliases, as the official SDKs call them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dapr.proto.runtime.v1 import jobs_pb2

if TYPE_CHECKING:
    from pydapr.jobs.api import JobsAPI


class JobsGrpc:
    def __init__(self, api: JobsAPI) -> None:
        self.api = api

    async def ScheduleJob(
        self, request: jobs_pb2.ScheduleJobRequest, context: Any
    ) -> jobs_pb2.ScheduleJobResponse:
        await self.api.schedule(request.job if request.HasField("job") else None, request.overwrite)
        return jobs_pb2.ScheduleJobResponse()

    async def GetJob(self, request: jobs_pb2.GetJobRequest, context: Any) -> jobs_pb2.GetJobResponse:
        return jobs_pb2.GetJobResponse(job=await self.api.get(request.name))

    async def DeleteJob(self, request: jobs_pb2.DeleteJobRequest, context: Any) -> jobs_pb2.DeleteJobResponse:
        await self.api.delete(request.name)
        return jobs_pb2.DeleteJobResponse()

    async def ListJobs(self, request: jobs_pb2.ListJobsRequest, context: Any) -> jobs_pb2.ListJobsResponse:
        return jobs_pb2.ListJobsResponse(jobs=await self.api.list_jobs())

    async def ListJobsAlpha1(
        self, request: jobs_pb2.ListJobsRequestAlpha1, context: Any
    ) -> jobs_pb2.ListJobsResponseAlpha1:
        return jobs_pb2.ListJobsResponseAlpha1(jobs=await self.api.list_jobs())

    async def DeleteJobsByPrefix(
        self, request: jobs_pb2.DeleteJobsByPrefixRequest, context: Any
    ) -> jobs_pb2.DeleteJobsByPrefixResponse:
        await self.api.delete_prefix(request.name_prefix)
        return jobs_pb2.DeleteJobsByPrefixResponse()

    async def DeleteJobsByPrefixAlpha1(
        self, request: jobs_pb2.DeleteJobsByPrefixRequestAlpha1, context: Any
    ) -> jobs_pb2.DeleteJobsByPrefixResponseAlpha1:
        await self.api.delete_prefix(request.name_prefix)
        return jobs_pb2.DeleteJobsByPrefixResponseAlpha1()

    # The Alpha1 RPCs take and return the same messages as the stable ones.
    ScheduleJobAlpha1 = ScheduleJob
    GetJobAlpha1 = GetJob
    DeleteJobAlpha1 = DeleteJob
