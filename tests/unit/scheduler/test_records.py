"""What a trigger's outcome does to a job: failure policies, repeats, ttl."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydapr.scheduler._proto import scheduler_pb2 as pb
from pydapr.scheduler.records import TimingCache, expired, new_record, outcome
from pydapr.scheduler.store import Advance, JobRecord, Remove

NOW = datetime(2024, 4, 24, 11, 42, 22, tzinfo=UTC)


def record(**fields: Any) -> tuple[JobRecord, TimingCache]:
    rec = new_record("default", "app", pb.Job(name="j", **fields), 8, NOW)
    assert rec is not None
    return rec, TimingCache()


def test_default_policy_retries_three_times_a_second_apart() -> None:
    rec, cache = record(due_time="0s")
    t = NOW.timestamp()
    for attempt in range(3):
        change = outcome(rec, False, t, cache)
        assert isinstance(change, Advance) and change.next_at == t + 1 and change.attempts == attempt + 1
        rec.attempts = change.attempts
    assert isinstance(outcome(rec, False, t, cache), Remove)


def test_drop_policy_and_success_end_a_one_shot_job() -> None:
    rec, cache = record(due_time="0s", failure_policy=pb.FailurePolicy(drop=pb.Drop()))
    assert isinstance(outcome(rec, False, NOW.timestamp(), cache), Remove)
    rec, cache = record(due_time="0s")
    assert isinstance(outcome(rec, True, NOW.timestamp(), cache), Remove)


def test_unlimited_retries_and_repeats() -> None:
    forever = pb.FailurePolicy(constant=pb.Constant(interval_seconds=5))
    rec, cache = record(schedule="@every 10s", repeats=2, failure_policy=forever)
    t = rec.next_at
    assert t is not None
    rec.attempts = 1000
    change = outcome(rec, False, t, cache)
    assert isinstance(change, Advance) and change.next_at == t + 5 and change.count == 0
    rec.attempts = 0
    first = outcome(rec, True, t, cache)
    assert isinstance(first, Advance) and first.count == 1 and first.next_at == t + 10
    rec.count, rec.occ_at = 1, first.occ_at
    assert isinstance(outcome(rec, True, first.next_at, cache), Remove)


def test_ttl_before_first_occurrence_stores_nothing_and_late_triggers_expire() -> None:
    assert new_record("default", "app", pb.Job(name="j", schedule="@every 1h", ttl="30m"), 8, NOW) is None
    rec, _ = record(schedule="@every 1s", ttl="10s")
    assert rec.next_at is not None and rec.expires_at is not None
    assert not expired(rec, rec.next_at)
    assert expired(rec, rec.expires_at + 5)
