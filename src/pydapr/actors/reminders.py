"""Durable actor reminders on pydapr's scheduler (``contract.Reminders``).

A reminder belongs to its actor type, not to the app that registered it (Dapr's scheduler keys
actor reminders by namespace, type, id and name, and sends each trigger to any sidecar hosting the
type). pydapr's scheduler knows jobs of apps only, so every actor type gets a reserved app id,
``__actorreminder||<type>``, and each reminder is the job ``<actor id>||<reminder name>`` of it
(``|`` and ``%`` in either part are %-escaped, so an actor id never reads as a prefix of another).
Each sidecar hosting the type opens a watch stream for that app id: the scheduler spreads the
type's triggers over the connected sidecars, re-sends what an instance that went away did not
answer, and the client's duplicate filter drops re-sends it already delivered.

The job carries the absolute due time and end (RFC 3339, computed here once, so the scheduler
never re-reads Dapr's formats), ``@every <interval>`` and ``repeats`` for the period, and as data
the registration as the user wrote it (``dueTime``, ``period``, ``ttl``, ``data`` bytes), which is
what ``get`` / ``list`` return and what each firing carries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import msgspec
from google.protobuf.any_pb2 import Any as AnyPb

from pydapr.actors import errors
from pydapr.actors.contract import ActorKey, FireReminder, Reminder
from pydapr.actors.periods import ActorTimes, PeriodError, parse_times
from pydapr.errors import DaprError, ErrorKind
from pydapr.jobs.client import SchedulerClient
from pydapr.scheduler._proto import scheduler_pb2 as pb
from pydapr.security.mtls import ChannelFactory, plain_channel

log = logging.getLogger("pydapr.actors.reminders")

APP_ID_PREFIX = "__actorreminder||"
DATA_TYPE_URL = "type.pydapr.io/pydapr.actors.Reminder"
_SEP = "||"
# Dapr's "ticks strictly before the ttl" (Reminder.NextTick); the scheduler fires at it inclusive.
_BEFORE = timedelta(microseconds=1)


class _Stored(msgspec.Struct, array_like=True, frozen=True):
    """A registration as the user wrote it: the job's data on the scheduler."""

    actor_id: str
    name: str
    due_time: str
    period: str
    ttl: str
    data: bytes | None


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(_Stored).decode


def _escape(part: str) -> str:
    return part.replace("%", "%25").replace("|", "%7C")


def job_name(actor_id: str, name: str) -> str:
    return f"{_escape(actor_id)}{_SEP}{_escape(name)}"


def reminders_app_id(actor_type: str) -> str:
    return APP_ID_PREFIX + actor_type


def _rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _every(seconds: float) -> str:
    # Whole microseconds: a Go duration the scheduler reads exactly, whatever the float.
    return f"@every {max(1, round(seconds * 1_000_000))}us"


def to_job(reminder: Reminder, times: ActorTimes) -> pb.Job:
    """The scheduler job of a validated reminder."""
    job = pb.Job(name=job_name(reminder.key.actor_id, reminder.name), due_time=_rfc3339(times.due))
    period = times.period
    if period.recurring:
        if period.months:
            # pydapr's scheduler, as Dapr's, repeats at a fixed interval; a month has none.
            raise PeriodError(f"unsupported period format: {period.value}")
        # A cron period goes to the scheduler as written (it reads the jobs API's cron).
        job.schedule = period.value if period.cron is not None else _every(period.interval)
        if period.repeats is not None:
            job.repeats = period.repeats
        if times.expires is not None:
            if times.expires <= times.due:  # Dapr: never fires, since nothing ticks at its ttl
                raise PeriodError(
                    f"reminder {reminder.key}{_SEP}{reminder.name} has already expired: TTL: {reminder.ttl}"
                )
            job.ttl = _rfc3339(times.expires - _BEFORE)
    policy = reminder.failure_policy
    if policy is not None and policy.drop:
        job.failure_policy.drop.SetInParent()
    elif policy is not None:
        job.failure_policy.constant.interval_seconds = -1.0 if policy.interval is None else policy.interval
        if policy.max_retries is not None:
            job.failure_policy.constant.max_retries = policy.max_retries
    stored = _Stored(
        reminder.key.actor_id, reminder.name, reminder.due_time, reminder.period, reminder.ttl, reminder.data
    )
    job.data.CopyFrom(AnyPb(type_url=DATA_TYPE_URL, value=_encode(stored)))
    return job


def from_data(actor_type: str, data: AnyPb) -> Reminder:
    """The registration a job carries (ValueError when the job is not a reminder)."""
    if data.type_url != DATA_TYPE_URL:
        raise ValueError(f"not an actor reminder: {data.type_url!r}")
    try:
        s = _decode(data.value)
    except msgspec.DecodeError as exc:
        raise ValueError(f"unreadable actor reminder: {exc}") from None
    return Reminder(ActorKey(actor_type, s.actor_id), s.name, s.due_time, s.period, s.ttl, s.data)


def _rpc_error(kind: ErrorKind, err: grpc.aio.AioRpcError) -> DaprError:
    """Dapr shows a scheduler error as Go prints a gRPC status."""
    code = "".join(w.capitalize() for w in err.code().name.split("_"))
    return kind(f"rpc error: code = {code} desc = {err.details()}")


class ReminderService:
    """``contract.Reminders`` on the scheduler at ``scheduler_addresses`` (any replica)."""

    def __init__(
        self,
        scheduler_addresses: list[str],
        namespace: str,
        app_id: str,
        open_channel: ChannelFactory = plain_channel,
    ) -> None:
        if not scheduler_addresses:
            raise ValueError("no scheduler address")
        self.addresses = list(scheduler_addresses)
        self._open_channel = open_channel
        self.namespace = namespace
        self.app_id = app_id  # the registering app: logged only, reminders belong to the type
        self._clients: dict[str, SchedulerClient] = {}
        self._watching: set[str] = set()
        self._fire: FireReminder | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._closed = False

    def _client(self, actor_type: str) -> SchedulerClient:
        if self._closed:
            raise errors.RUNTIME_CLOSED()
        client = self._clients.get(actor_type)
        if client is None:
            client = SchedulerClient(
                self.addresses, self.namespace, reminders_app_id(actor_type), open_channel=self._open_channel
            )
            self._clients[actor_type] = client
        return client

    # --- registrations -----------------------------------------------------------------------
    async def create(self, reminder: Reminder) -> None:
        key = f"{reminder.key}{_SEP}{reminder.name}"
        try:
            times = parse_times(reminder.due_time, reminder.period, reminder.ttl, key=key)
            job = to_job(reminder, times)
        except PeriodError as exc:
            raise errors.REMINDER_CREATE(str(exc)) from None
        try:
            # Registering again replaces the reminder and restarts its schedule, as in Dapr,
            # unless the registration says overwrite: false.
            await self._client(reminder.key.actor_type).schedule(job, overwrite=reminder.overwrite)
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.ALREADY_EXISTS:
                raise errors.REMINDER_EXISTS(reminder.name) from None
            raise _rpc_error(errors.REMINDER_CREATE, err) from None

    async def get(self, key: ActorKey, name: str) -> Reminder | None:
        try:
            job = await self._client(key.actor_type).get(job_name(key.actor_id, name))
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise _rpc_error(errors.REMINDER_GET, err) from None
        return self._readable(key.actor_type, job)

    async def delete(self, key: ActorKey, name: str) -> None:
        try:
            await self._client(key.actor_type).delete(job_name(key.actor_id, name))
        except grpc.aio.AioRpcError as err:
            raise _rpc_error(errors.REMINDER_DELETE, err) from None

    async def list(self, actor_type: str, actor_id: str | None = None) -> list[Reminder]:
        try:
            jobs = await self._client(actor_type).list_jobs()
        except grpc.aio.AioRpcError as err:
            raise _rpc_error(errors.REMINDER_GET, err) from None
        prefix = None if actor_id is None else _escape(actor_id) + _SEP
        found = []
        for job in jobs:
            if prefix is not None and not job.name.startswith(prefix):
                continue
            reminder = self._readable(actor_type, job)
            if reminder is not None:
                found.append(reminder)
        return found

    async def delete_all(self, actor_type: str, actor_id: str | None = None) -> None:
        prefix = "" if actor_id is None else _escape(actor_id) + _SEP
        try:
            await self._client(actor_type).delete_prefix(prefix)
        except grpc.aio.AioRpcError as err:
            raise _rpc_error(errors.REMINDER_DELETE, err) from None

    @staticmethod
    def _readable(actor_type: str, job: pb.Job) -> Reminder | None:
        try:
            return from_data(actor_type, job.data)
        except ValueError as exc:
            log.warning("skipping job %r of actor type %r: %s", job.name, actor_type, exc)
            return None

    # --- triggers ----------------------------------------------------------------------------
    def watch(self, actor_types: Sequence[str], fire: FireReminder) -> None:
        self._fire = fire
        wanted = set(actor_types)
        for actor_type in self._watching - wanted:
            client = self._clients.pop(actor_type, None)
            if client is not None:
                task = asyncio.ensure_future(client.close())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
        for actor_type in wanted - self._watching:
            self._client(actor_type).watch(self._deliverer(actor_type))
        self._watching = wanted

    def _deliverer(self, actor_type: str) -> Any:
        async def deliver(name: str, data: AnyPb) -> bool:
            try:
                reminder = from_data(actor_type, data)
            except ValueError as exc:
                log.warning("dropping trigger %r of actor type %r: %s", name, actor_type, exc)
                return True  # retrying cannot make it readable
            fire = self._fire
            if fire is None:
                return False
            try:
                return bool(await fire(reminder))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # An answer must go back either way, or the occurrence waits for a reconnect.
                log.warning("reminder %s||%s failed: %s", reminder.key, reminder.name, exc)
                return False

        return deliver

    def connected(self, actor_type: str) -> bool:
        """Whether this sidecar's watch stream for ``actor_type`` is open on every replica."""
        client = self._clients.get(actor_type)
        return actor_type in self._watching and client is not None and all(client.connected)

    def renew_channels(self) -> None:
        """After a certificate rotation: every scheduler client makes new channels."""
        for client in self._clients.values():
            client.renew_channels()

    async def close(self) -> None:
        self._closed = True
        clients, self._clients = list(self._clients.values()), {}
        self._watching = set()
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close()
        for task in list(self._closing):
            with contextlib.suppress(Exception):
                await task
