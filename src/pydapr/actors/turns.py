"""Turn-based concurrency for one actor: one call at a time, with Dapr's reentrancy.

As dapr/dapr pkg/actors/targets/app/lock: every call is a *flight* queued behind the flight in
progress; a call that carries the ``Dapr-Reentrancy-Id`` of a queued flight (the one running, when
reentrancy is enabled for the type) joins it instead of queueing, one level deeper, refused past
``maxStackDepth``. Calls, timers and reminders all take turns here.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import deque

import msgspec

from . import errors as E

REENTRANCY_HEADER = "Dapr-Reentrancy-Id"


class TurnLockClosed(Exception):
    """The activation is being deactivated: the call must be routed again."""


class _Flight(msgspec.Struct, eq=False):
    id: str
    depth: int = 1
    started: asyncio.Future[None] = msgspec.field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Turn:
    """A held turn; ``release()`` once the call is done (idempotent)."""

    __slots__ = ("_flight", "_lock", "_released")

    def __init__(self, lock: TurnLock, flight: _Flight) -> None:
        self._lock = lock
        self._flight = flight
        self._released = False

    @property
    def reentrancy_id(self) -> str:
        return self._flight.id

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._lock._release(self._flight)


class TurnLock:
    def __init__(self, *, reentrancy: bool = False, max_stack_depth: int = 32) -> None:
        self.reentrancy = reentrancy
        self.max_stack_depth = max_stack_depth
        self._flights: deque[_Flight] = deque()
        self._closed = False
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def busy(self) -> bool:
        """A call holds the turn or waits for it."""
        return bool(self._flights)

    def in_progress(self, reentrancy_id: str | None) -> bool:
        """A reentrant call with this id would join a flight already queued or running."""
        return bool(self.reentrancy and reentrancy_id) and any(f.id == reentrancy_id for f in self._flights)

    async def acquire(self, reentrancy_id: str | None = None) -> Turn:
        """Waits for this call's turn. ``reentrancy_id`` is the caller's ``Dapr-Reentrancy-Id``;
        with reentrancy enabled and none given, a new id is made (the app passes it on). Once the
        lock is closing only reentrant calls of the flights still draining get in."""
        joining = self.in_progress(reentrancy_id)
        if self._closed and not joining:
            raise TurnLockClosed()
        flight = self._join(reentrancy_id)
        try:
            # Shielded: a reentrant call may share the future with the call that queued it.
            await asyncio.shield(flight.started)
        except BaseException:
            self._release(flight)
            raise
        if self._closed and not joining:
            self._release(flight)
            raise TurnLockClosed()
        return Turn(self, flight)

    def _join(self, reentrancy_id: str | None) -> _Flight:
        if self.reentrancy and reentrancy_id:
            for flight in self._flights:
                if flight.id == reentrancy_id:
                    if flight.depth >= self.max_stack_depth:
                        raise E.STACK_DEPTH()
                    flight.depth += 1
                    return flight
        flight = _Flight((reentrancy_id or str(uuid.uuid4())) if self.reentrancy else str(uuid.uuid4()))
        self._flights.append(flight)
        self._idle.clear()
        if len(self._flights) == 1:
            flight.started.set_result(None)
        return flight

    def _release(self, flight: _Flight) -> None:
        flight.depth -= 1
        if flight.depth > 0:
            return
        try:
            self._flights.remove(flight)
        except ValueError:
            return
        if self._flights:
            front = self._flights[0]
            if not front.started.done():
                front.started.set_result(None)
        else:
            self._idle.set()

    async def close(self, drain: float | None = None) -> None:
        """No new call may start; waits up to ``drain`` seconds for the calls already queued
        (None: no wait). Calls still waiting for their turn then fail with ``TurnLockClosed``."""
        self._closed = True
        if drain and self._flights:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), drain)
        for flight in list(self._flights):
            if not flight.started.done():
                flight.started.set_exception(TurnLockClosed())
                flight.started.exception()  # retrieved: a waiter may have gone already
