"""Cron schedules as Dapr's cron binding reads them (robfig/cron with SecondOptional | Descriptor).

Reusable: accepts 6 fields (seconds first) or 5 (no seconds, meaning second 0), descriptors
(``@daily``, ``@hourly`` ...), ``@every <Go duration>`` and a ``TZ=``/``CRON_TZ=`` prefix, and
returns a ``Schedule`` with ``next(after)``. The cron engine itself is the jobs scheduler's
(pydapr.jobs.schedule, written for Dapr's 6-field dialect); this module adds what the binding's
dialect has on top (the 5-field form) and refuses what it lacks (a bare duration without ``@every``).
croniter was considered: it has no ``@every`` and puts seconds last, so it would have needed more
code around it than this.
"""

from __future__ import annotations

from pydapr.jobs.schedule import Schedule, ScheduleError, parse_schedule

__all__ = ["Schedule", "ScheduleError", "parse_cron_binding_schedule"]


def parse_cron_binding_schedule(spec: str) -> Schedule:
    text = spec.strip()
    if not text:
        raise ScheduleError("empty spec string")
    head, _, rest = text.partition(" ")
    zone_prefix = ""
    body = text
    if head.startswith(("TZ=", "CRON_TZ=")):
        zone_prefix, body = head + " ", rest.strip()
    if not body.startswith("@"):
        fields = body.split()
        if len(fields) == 5:
            body = "0 " + body
        elif len(fields) != 6:
            raise ScheduleError(f"expected 5 to 6 fields, found {len(fields)}: {fields}")
    return parse_schedule(zone_prefix + body)
