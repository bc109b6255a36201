"""Conversions between Dapr's ``runtime.v1.Job`` (the SDKs' wire format) and the scheduler's Job."""

from __future__ import annotations

from typing import Any

from pydapr.api.grpc.wire import common, runtime
from pydapr.scheduler._proto import scheduler_pb2 as pb


def to_scheduler(job: Any) -> pb.Job:
    out = pb.Job(name=job.name)
    for field in ("schedule", "repeats", "due_time", "ttl"):
        if job.HasField(field):
            setattr(out, field, getattr(job, field))
    if job.HasField("data"):
        out.data.CopyFrom(job.data)
    if job.HasField("failure_policy"):
        policy = job.failure_policy
        if policy.HasField("drop"):
            out.failure_policy.drop.SetInParent()
        elif policy.HasField("constant"):
            constant = out.failure_policy.constant
            interval = policy.constant.interval
            constant.interval_seconds = (
                interval.seconds + interval.nanos / 1e9 if policy.constant.HasField("interval") else -1.0
            )
            if policy.constant.HasField("max_retries"):
                constant.max_retries = policy.constant.max_retries
    return out


def to_runtime(job: pb.Job) -> Any:
    out = runtime.Job(name=job.name)
    for field in ("schedule", "repeats", "due_time", "ttl"):
        if job.HasField(field):
            setattr(out, field, getattr(job, field))
    if job.HasField("data"):
        out.data.CopyFrom(job.data)
    if job.HasField("failure_policy"):
        policy = job.failure_policy
        if policy.HasField("drop"):
            out.failure_policy.CopyFrom(common.JobFailurePolicy(drop=common.JobFailurePolicyDrop()))
        elif policy.HasField("constant"):
            constant = common.JobFailurePolicyConstant()
            if policy.constant.interval_seconds >= 0:
                constant.interval.FromNanoseconds(round(policy.constant.interval_seconds * 1e9))
            if policy.constant.HasField("max_retries"):
                constant.max_retries = policy.constant.max_retries
            out.failure_policy.CopyFrom(common.JobFailurePolicy(constant=constant))
    return out
