"""Dapr's job trigger metrics after real triggers: a pydapr scheduler process, the sidecar's
scheduler client watching it, and the jobs block's measured delivery in front of an app that takes
one job and refuses another."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from google.protobuf.any_pb2 import Any as AnyPb
from google.protobuf.wrappers_pb2 import StringValue

from pydapr.jobs.client import SchedulerClient
from pydapr.observability.metrics.blocks.jobs import JobMetrics
from pydapr.observability.metrics.registry import REGISTRY
from pydapr.scheduler._proto import scheduler_pb2 as pb
from tests.integration.scheduler.harness import schedulers


def job(name: str) -> pb.Job:
    j = pb.Job(name=name, due_time="0s")
    j.failure_policy.drop.SetInParent()  # one trigger each, taken or not
    j.data.Pack(StringValue(value=name))
    return j


async def test_taken_and_refused_triggers_are_counted_and_timed(tmp_path: Path) -> None:
    app_id, namespace = f"jobs-{uuid.uuid4().hex[:8]}", "ns-jobs"
    seen: list[str] = []
    all_seen = asyncio.Event()

    async def app(name: str, data: AnyPb) -> bool:
        seen.append(name)
        if len(seen) == 3:
            all_seen.set()
        await asyncio.sleep(0.002)
        return name != "refused"

    def value(metric: str, **extra: str) -> float:
        labels = {"app_id": app_id, "namespace": namespace, "operation": "job_trigger_op", **extra}
        return REGISTRY.get_sample_value(metric, labels) or 0.0

    with schedulers(tmp_path) as scheds:
        s = scheds.start(f"sqlite://{tmp_path}/jobs.db")
        client = SchedulerClient([s.address], namespace, app_id)
        try:
            for name in ("taken", "refused", "taken-too"):
                await client.schedule(job(name), overwrite=False)
            client.watch(JobMetrics(app_id, namespace).measure(app))
            await asyncio.wait_for(all_seen.wait(), 15)
            await asyncio.sleep(0.3)  # a retried trigger would show up here
        finally:
            await client.close()

    assert sorted(seen) == ["refused", "taken", "taken-too"]
    assert value("dapr_component_job_success_count") == 2.0
    assert value("dapr_component_job_failure_count") == 1.0
    assert value("dapr_component_job_latencies_count", success="true") == 2.0
    assert value("dapr_component_job_latencies_count", success="false") == 1.0
    assert value("dapr_component_job_latencies_sum", success="true") >= 4.0  # two triggers of 2 ms or more
