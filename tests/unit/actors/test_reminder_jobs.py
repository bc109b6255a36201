"""How a reminder maps onto a scheduler job, and that the scheduler accepts what it is given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.any_pb2 import Any as AnyPb

from pydapr.actors.contract import ActorKey, Reminder
from pydapr.actors.periods import PeriodError, parse_times
from pydapr.actors.reminders import from_data, job_name, reminders_app_id, to_job
from pydapr.jobs.schedule import build_timing
from pydapr.scheduler._proto import scheduler_pb2 as pb

NOW = datetime(2026, 5, 14, 10, 30, 0, 800_000, tzinfo=UTC)
KEY = ActorKey("Cart", "c-1")


def job_for(
    due: str = "", period: str = "", ttl: str = "", data: bytes | None = b'{"n":1}'
) -> tuple[Reminder, pb.Job]:
    reminder = Reminder(KEY, "tick", due, period, ttl, data)
    return reminder, to_job(reminder, parse_times(due, period, ttl, now=NOW))


def test_names_escape_the_separator() -> None:
    assert reminders_app_id("Cart") == "__actorreminder||Cart"
    assert job_name("c-1", "tick") == "c-1||tick"
    # An id holding "||" cannot read as the prefix of another id's reminders.
    assert job_name("a||b", "r") == "a%7C%7Cb||r"
    assert not job_name("a||b", "r").startswith("a||")
    assert job_name("50%", "x|y") == "50%25||x%7Cy"


def test_one_shot_is_a_due_time_only() -> None:
    _, job = job_for(due="2s")
    assert job.due_time == "2026-05-14T10:30:02.800000Z"
    assert not job.HasField("schedule") and not job.HasField("repeats") and not job.HasField("ttl")


def test_repetitions_become_every_and_repeats() -> None:
    _, job = job_for(due="1s", period="R3/PT0.5S")
    assert job.schedule == "@every 500000us" and job.repeats == 3


def test_ttl_ends_strictly_before_its_instant() -> None:
    _, job = job_for(period="2s", ttl="6s")
    assert job.ttl == "2026-05-14T10:30:06.799999Z"


def test_empty_period_is_once_and_empty_due_time_is_now() -> None:
    _, job = job_for()
    assert job.due_time == "2026-05-14T10:30:00.800000Z" and not job.HasField("schedule")


@pytest.mark.parametrize("period", ["P1M", "R2/P1Y"])
def test_months_are_refused_as_dapr_does(period: str) -> None:
    with pytest.raises(PeriodError, match=f"unsupported period format: {period}"):
        job_for(period=period)


def test_days_are_a_fixed_interval() -> None:
    _, job = job_for(period="P1DT1S")
    assert job.schedule == f"@every {86401 * 1_000_000}us"


def test_the_job_carries_the_registration_as_written() -> None:
    reminder, job = job_for(due="PT1S", period="R5/PT1S", ttl="1h", data=b"\x00\xffraw")
    assert from_data("Cart", job.data) == reminder
    _, none = job_for(data=None)
    assert from_data("Cart", none.data).data is None


def test_foreign_data_is_not_a_reminder() -> None:
    with pytest.raises(ValueError, match="not an actor reminder"):
        from_data("Cart", AnyPb(type_url="type.googleapis.com/google.protobuf.StringValue"))
    with pytest.raises(ValueError, match="unreadable"):
        from_data("Cart", AnyPb(type_url="type.pydapr.io/pydapr.actors.Reminder", value=b"\xc1"))


@pytest.mark.parametrize(
    ("due", "period", "ttl"),
    [("", "", ""), ("1s", "2s", ""), ("PT1S", "R5/PT0.5S", "10s"), ("2030-01-01T00:00:00Z", "1h", "P1D"),
     ("-5s", "100ms", "")],
)  # fmt: skip
def test_the_scheduler_accepts_every_job(due: str, period: str, ttl: str) -> None:
    _, job = job_for(due, period, ttl)
    timing = build_timing(
        schedule=job.schedule if job.HasField("schedule") else None,
        due_time=job.due_time,
        ttl=job.ttl if job.HasField("ttl") else None,
        repeats=job.repeats if job.HasField("repeats") else None,
        now=NOW,
    )
    assert timing.first() == parse_times(due, period, ttl, now=NOW).due
    if period == "R5/PT0.5S":
        assert timing.after(1, timing.begin, timing.begin) == timing.begin + timedelta(seconds=0.5)
        assert timing.after(5, timing.begin, timing.begin) is None
