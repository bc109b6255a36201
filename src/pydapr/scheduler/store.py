"""The scheduler's storage contract: jobs, partition leases and replica heartbeats in one database.

Two implementations: ``sqlite_store`` (local control plane) and ``postgres_store`` (clusters).
Every write done on behalf of a trigger is fenced: it applies only while the writer still holds
the lease of the job's partition, so a replica that lost its lease can't overwrite a successor.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Protocol

DEFAULT_PARTITIONS = 32


class JobExistsError(Exception):
    """A job of that name exists and the request did not ask to overwrite it."""


class StoreError(Exception):
    """The database failed; the message names the backend's error."""


@dataclass(slots=True)
class JobRecord:
    namespace: str
    app_id: str
    name: str
    uid: str  # new for every (re)creation: results for a replaced job are discarded
    partition: int
    spec: bytes  # the serialized scheduler_pb2.Job as the user gave it
    begin_at: float
    begin_is_due: bool
    expires_at: float | None
    next_at: float | None  # when the current occurrence (or its retry) is sent next
    occ_at: float | None  # the scheduled time of the current occurrence
    count: int = 0  # occurrences delivered (or dropped) so far
    attempts: int = 0  # failed attempts of the current occurrence

    @property
    def app_key(self) -> str:
        return app_key(self.namespace, self.app_id)


@dataclass(frozen=True, slots=True)
class Advance:
    """Move a job to its next occurrence (or retry): the result of one trigger."""

    namespace: str
    app_id: str
    name: str
    uid: str
    next_at: float
    occ_at: float
    count: int
    attempts: int
    part: int  # the job's partition: the write is fenced by its lease


@dataclass(frozen=True, slots=True)
class Remove:
    """Delete a job that has no occurrence left (one-shot done, repeats reached, ttl passed)."""

    namespace: str
    app_id: str
    name: str
    uid: str
    part: int


# Where a page of due jobs ended: (next_at, namespace, app_id, name) of its last job, the order
# ``due`` reads in, so the next page starts after it instead of re-reading the jobs before it.
DueCursor = tuple[float, str, str, str]


def app_key(namespace: str, app_id: str) -> str:
    return f"{namespace}/{app_id}"


def partition_of(namespace: str, app_id: str, name: str, partitions: int) -> int:
    return zlib.crc32(f"{namespace}\x00{app_id}\x00{name}".encode()) % partitions


class JobStore(Protocol):
    partitions: int

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def put(self, job: JobRecord, overwrite: bool) -> None:
        """Insert a job; raises JobExistsError when it exists and ``overwrite`` is false."""

    async def get(self, namespace: str, app_id: str, name: str) -> JobRecord | None: ...

    async def delete(self, namespace: str, app_id: str, name: str) -> bool: ...

    async def list_jobs(self, namespace: str, app_id: str) -> list[JobRecord]: ...

    async def delete_prefix(self, namespace: str, app_id: str, prefix: str) -> int: ...

    async def due(
        self, partitions: list[int], apps: list[str], until: float, limit: int, after: DueCursor | None = None
    ) -> list[JobRecord]:
        """Jobs of these partitions and apps whose ``next_at`` is at or before ``until``, in
        (next_at, namespace, app_id, name) order, from the first one after ``after``."""

    async def apply(self, owner: str, changes: list[Advance | Remove]) -> None:
        """Apply trigger results, each only if ``owner`` still holds its partition's lease."""

    async def lease(self, owner: str, ttl: float) -> set[int]:
        """Heartbeat ``owner``, renew its leases and take or give partitions toward a fair share."""

    async def release(self, owner: str) -> None:
        """Give up every lease of ``owner`` and its heartbeat (clean shutdown)."""
