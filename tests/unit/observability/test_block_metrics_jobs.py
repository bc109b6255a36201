"""Dapr's job trigger metrics after real triggers: a pydapr scheduler process, the sidecar's
scheduler client watching it, and the jobs block's delivery through a real HTTP app channel to an
app that takes one job, refuses another and has no handler for a third."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from google.protobuf.wrappers_pb2 import StringValue

from pydapr.appchannel import create_app_channel
from pydapr.http.client import HttpClient
from pydapr.http.messages import Headers, Request, Response
from pydapr.http.server import HttpServer
from pydapr.jobs.client import SchedulerClient
from pydapr.jobs.delivery import TriggerDelivery
from pydapr.observability.metrics.blocks.jobs import JobMetrics
from pydapr.observability.metrics.registry import REGISTRY
from pydapr.pipeline import Pipeline
from pydapr.scheduler._proto import scheduler_pb2 as pb
from pydapr.sidecar.options import SidecarOptions
from tests.integration.scheduler.harness import schedulers

# What the app answers per job: taken, refused (retryable), no handler (daprd: done, but failed).
ANSWERS = {"/job/taken": 200, "/job/taken-too": 200, "/job/refused": 500, "/job/gone": 404}


def job(name: str) -> pb.Job:
    j = pb.Job(name=name, due_time="0s")
    j.failure_policy.drop.SetInParent()  # one trigger each, taken or not
    j.data.Pack(StringValue(value=name))
    return j


async def test_taken_refused_and_unhandled_triggers_are_counted_and_timed(tmp_path: Path) -> None:
    app_id, namespace = f"jobs-{uuid.uuid4().hex[:8]}", "ns-jobs"
    seen: list[str] = []
    all_seen = asyncio.Event()

    async def app(req: Request) -> Response:
        seen.append(req.path)
        if len(seen) == len(ANSWERS):
            all_seen.set()
        await asyncio.sleep(0.002)
        return Response(ANSWERS.get(req.path, 500), Headers(), b"")

    def value(metric: str, **extra: str) -> float:
        labels = {"app_id": app_id, "namespace": namespace, "operation": "job_trigger_op", **extra}
        return REGISTRY.get_sample_value(metric, labels) or 0.0

    server = await HttpServer.start(app, host="127.0.0.1", port=0)
    http = HttpClient()
    channel = create_app_channel(
        SidecarOptions(app_id=app_id, app_port=server.port), http, Pipeline(), app_id
    )
    try:
        with schedulers(tmp_path) as scheds:
            s = scheds.start(f"sqlite://{tmp_path}/jobs.db")
            client = SchedulerClient([s.address], namespace, app_id)
            try:
                for path in ANSWERS:
                    await client.schedule(job(path.removeprefix("/job/")), overwrite=False)
                client.watch(TriggerDelivery(channel, JobMetrics(app_id, namespace)))
                await asyncio.wait_for(all_seen.wait(), 15)
                await asyncio.sleep(0.3)  # a retried trigger would show up here
            finally:
                await client.close()
    finally:
        await channel.close()
        await http.close()
        await server.shutdown(1.0)

    assert sorted(seen) == sorted(ANSWERS)
    assert value("dapr_component_job_success_count") == 2.0
    # The refused trigger and the one the app has no handler for (done with, but failed, as daprd).
    assert value("dapr_component_job_failure_count") == 2.0
    assert value("dapr_component_job_latencies_count", success="true") == 2.0
    assert value("dapr_component_job_latencies_count", success="false") == 2.0
    assert value("dapr_component_job_latencies_sum", success="true") >= 4.0  # two triggers of 2 ms or more
