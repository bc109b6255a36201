"""From a scheduled job to its stored record, and from a trigger's outcome to the record's next state."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pydapr.jobs.schedule import Timing, build_timing, parse_schedule
from pydapr.scheduler._proto import scheduler_pb2 as pb
from pydapr.scheduler.store import Advance, JobRecord, Remove, partition_of

# go-etcd-cron's default when a job names no failure policy: retry every second, three times.
DEFAULT_INTERVAL = 1.0
DEFAULT_MAX_RETRIES = 3
# A trigger that could not be delivered before its ttl is still sent if it is at most this late.
LATE_GRACE = 1.0


def _ts(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def with_default_policy(job: pb.Job) -> pb.Job:
    if not job.HasField("failure_policy"):
        job.failure_policy.constant.interval_seconds = DEFAULT_INTERVAL
        job.failure_policy.constant.max_retries = DEFAULT_MAX_RETRIES
    return job


def new_record(namespace: str, app_id: str, job: pb.Job, partitions: int, now: datetime) -> JobRecord | None:
    """Validate ``job`` and build its record; None when its ttl ends before its first occurrence.

    Raises pydapr.jobs.schedule.ScheduleError for invalid timing fields.
    """
    timing = build_timing(
        schedule=job.schedule if job.HasField("schedule") else None,
        due_time=job.due_time if job.HasField("due_time") else None,
        ttl=job.ttl if job.HasField("ttl") else None,
        repeats=job.repeats if job.HasField("repeats") else None,
        now=now,
    )
    first = timing.first()
    if first is None:
        return None
    spec = with_default_policy(job).SerializeToString(deterministic=True)
    return JobRecord(
        namespace=namespace,
        app_id=app_id,
        name=job.name,
        uid=uuid.uuid4().hex,
        partition=partition_of(namespace, app_id, job.name, partitions),
        spec=spec,
        begin_at=timing.begin.timestamp(),
        begin_is_due=timing.begin_is_due,
        expires_at=timing.expires.timestamp() if timing.expires else None,
        next_at=first.timestamp(),
        occ_at=first.timestamp(),
    )


class TimingCache:
    """Parsed timings by job uid, so a cron expression is parsed once per job, not per trigger.

    A job with no schedule fires once (and then only retries): its timing is never needed, and it
    takes no room here.
    """

    def __init__(self, limit: int = 100_000) -> None:
        self._items: dict[str, tuple[Timing, pb.FailurePolicy]] = {}
        self._limit = limit

    def get(self, rec: JobRecord, job: pb.Job | None = None) -> tuple[Timing | None, pb.FailurePolicy]:
        """``rec``'s timing (None when it has no schedule) and failure policy; ``job`` is its spec
        when the caller has it parsed already."""
        hit = self._items.get(rec.uid)
        if hit is not None:
            return hit
        if job is None:
            job = pb.Job.FromString(rec.spec)
        if not job.HasField("schedule"):
            return None, job.failure_policy
        timing = Timing(
            schedule=parse_schedule(job.schedule),
            begin=_ts(rec.begin_at),
            begin_is_due=rec.begin_is_due,
            expires=_ts(rec.expires_at) if rec.expires_at is not None else None,
            repeats=job.repeats if job.HasField("repeats") else None,
        )
        if len(self._items) >= self._limit:
            self._items.clear()
        hit = self._items[rec.uid] = (timing, job.failure_policy)
        return hit


def expired(rec: JobRecord, now: float) -> bool:
    """True when the occurrence due now lies past the job's ttl (or is too late to deliver)."""
    if rec.expires_at is None or rec.occ_at is None:
        return False
    return rec.occ_at > rec.expires_at or now > rec.expires_at + LATE_GRACE


def outcome(
    rec: JobRecord, ok: bool, now: float, cache: TimingCache, job: pb.Job | None = None
) -> Advance | Remove:
    """The record's next state after one trigger: next occurrence, a retry, or removal. ``job`` is
    the record's spec if the caller has parsed it already."""
    timing, policy = cache.get(rec, job)
    if not ok and policy.HasField("constant"):
        constant = policy.constant
        unlimited = not constant.HasField("max_retries")
        if unlimited or rec.attempts < constant.max_retries:
            interval = constant.interval_seconds if constant.interval_seconds >= 0 else DEFAULT_INTERVAL
            return Advance(
                rec.namespace, rec.app_id, rec.name, rec.uid,
                next_at=now + interval, occ_at=rec.occ_at or now, count=rec.count, attempts=rec.attempts + 1,
                part=rec.partition,
            )  # fmt: skip
    if timing is None:  # no schedule: its one occurrence is done
        return Remove(rec.namespace, rec.app_id, rec.name, rec.uid, rec.partition)
    count = rec.count + 1
    nxt = timing.after(count, _ts(rec.occ_at if rec.occ_at is not None else now), _ts(now))
    if nxt is None:
        return Remove(rec.namespace, rec.app_id, rec.name, rec.uid, rec.partition)
    at = nxt.timestamp()
    return Advance(
        rec.namespace, rec.app_id, rec.name, rec.uid,
        next_at=at, occ_at=at, count=count, attempts=0, part=rec.partition,
    )  # fmt: skip
