"""This sidecar's actor activations: one turn at a time per actor id, timers, idle deactivation,
and the deactivations placement asks for (dapr/dapr pkg/actors/targets/app, pkg/actors/table).

An activation exists from the first call (or timer registration) until it is idle for the type's
``actorIdleTimeout`` (checked every ``actorScanInterval``), until placement moves it to another
sidecar (``on_update``, after draining its calls for ``drainOngoingCallTimeout`` when
``drainRebalancedActors``), or until shutdown. Each deactivation tells the app
(``DELETE /actors/{type}/{id}``) and drops the activation's timers.

A call for an actor this sidecar does not own (its type is not hosted here, or placement puts the
id elsewhere) raises ``NotHostedHere``; the router then looks the actor up again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydapr.resiliency import NOOP, Policy, ResiliencyPolicies

from . import errors as E
from .contract import (
    ActorAppTransport,
    ActorKey,
    EntityConfig,
    HostedTypes,
    InvokeRequest,
    InvokeResult,
    ReminderFire,
    TimerFire,
)
from .periods import ActorTimes
from .turns import REENTRANCY_HEADER, Turn, TurnLock, TurnLockClosed

if TYPE_CHECKING:
    from pydapr.observability.metrics.blocks.actors import ActorMetrics

log = logging.getLogger("pydapr.actors")

NO_TYPES = HostedTypes({})
UNLOCK_WAIT = 30.0  # seconds a call waits for a placement round to end


class NotHostedHere(Exception):
    """The actor is not (or no longer) this sidecar's: route the call again."""


@dataclass(eq=False)
class Activation:
    key: ActorKey
    config: EntityConfig
    lock: TurnLock
    last_used: float
    timers: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    closed: bool = False


class ActorHost:
    """``owns(key)`` answers from the current placement table whether this sidecar hosts ``key``;
    ``metrics`` records Dapr's actor metrics (None: metrics are off)."""

    def __init__(
        self,
        *,
        owns: Callable[[ActorKey], bool],
        resiliency: ResiliencyPolicies | None = None,
        clock: Callable[[], float] = time.monotonic,
        metrics: ActorMetrics | None = None,
    ) -> None:
        self.owns = owns
        self.resiliency = resiliency
        self.clock = clock
        self.metrics = metrics
        self.hosted: HostedTypes = NO_TYPES
        self.transport: ActorAppTransport | None = None
        self._active: dict[ActorKey, Activation] = {}
        # Deactivations in progress, until the app has been told: the next activation of the same
        # id waits for it, so the app never gets a call for an actor it is deactivating.
        self._deactivating: dict[ActorKey, asyncio.Future[None]] = {}
        self._unlocked = asyncio.Event()
        self._unlocked.set()
        self._scanner: asyncio.Task[None] | None = None
        self._closed = False

    # --- what is hosted -------------------------------------------------------------------------

    def set_app(self, hosted: HostedTypes, transport: ActorAppTransport | None) -> None:
        """The app's types and how to reach it (the HTTP channel, or a gRPC callback stream)."""
        self.hosted = hosted
        self.transport = transport

    @property
    def closed(self) -> bool:
        return self._closed

    def hosts_type(self, actor_type: str) -> bool:
        return actor_type in self.hosted.entities and self.transport is not None

    def is_active(self, key: ActorKey) -> bool:
        return key in self._active

    def counts(self) -> dict[str, int]:
        """Active actors per hosted type (the metadata API's ``actors``)."""
        out = dict.fromkeys(self.hosted.entities, 0)
        for key in self._active:
            out[key.actor_type] = out.get(key.actor_type, 0) + 1
        return out

    # --- calls ----------------------------------------------------------------------------------

    async def invoke(self, request: InvokeRequest) -> InvokeResult:
        activation, turn = await self._turn(request.key, request.metadata.get(REENTRANCY_HEADER))
        try:
            if activation.lock.reentrancy:
                # As daprd: the app gets the id of the turn, and passes it on to re-enter.
                request.metadata[REENTRANCY_HEADER] = turn.reentrancy_id
            transport = self._transport()
            policy = self._post_lock(request.key)
            return await policy.run(lambda: transport.invoke(request))
        finally:
            turn.release()
            activation.last_used = self.clock()

    async def reminder(self, key: ActorKey, fire: ReminderFire) -> None:
        activation, turn = await self._turn(key, None)
        try:
            transport = self._transport()
            await self._post_lock(key).run(lambda: transport.reminder(key, fire))
        finally:
            turn.release()
            activation.last_used = self.clock()

    async def _fire_timer(self, activation: Activation, fire: TimerFire) -> None:
        key = activation.key
        try:
            turn = await self._acquire(activation, None)
        except TurnLockClosed:
            return
        metrics = self.metrics
        try:
            activation.last_used = self.clock()
            await self._post_lock(key).run(lambda: self._transport().timer(key, fire))
            if metrics is not None:
                metrics.timer_fired(key.actor_type, True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if metrics is not None:
                metrics.timer_fired(key.actor_type, False)
            log.error("error executing timer %s for actor %s: %s", fire.name, key, exc)
        finally:
            turn.release()
            activation.last_used = self.clock()

    async def _turn(self, key: ActorKey, reentrancy_id: str | None) -> tuple[Activation, Turn]:
        """The activation of ``key`` (created when needed) and a turn on it."""
        if self._closed:
            raise E.RUNTIME_CLOSED()
        current = self._active.get(key)
        reentering = current is not None and current.lock.in_progress(reentrancy_id)
        if not self._unlocked.is_set() and not reentering:
            # Placement is changing the table: no new call starts (bounded, should it never unlock);
            # a reentrant call is part of a call already running, which the round may be draining.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._unlocked.wait(), UNLOCK_WAIT)
        for _ in range(3):
            pending = self._deactivating.get(key)
            if pending is not None and not reentering:
                await asyncio.shield(pending)
            activation = self._activation(key)
            try:
                turn = await self._acquire(activation, reentrancy_id)
            except TurnLockClosed:
                continue  # deactivated while waiting: a new activation, if this sidecar still owns it
            activation.last_used = self.clock()
            return activation, turn
        raise NotHostedHere()

    async def _acquire(self, activation: Activation, reentrancy_id: str | None) -> Turn:
        metrics = self.metrics
        if metrics is None:
            return await activation.lock.acquire(reentrancy_id)
        # As daprd's lock: every call counts as pending while it waits for the actor's turn.
        actor_type = activation.key.actor_type
        metrics.waiting(actor_type, 1)
        try:
            return await activation.lock.acquire(reentrancy_id)
        finally:
            metrics.waiting(actor_type, -1)

    def _activation(self, key: ActorKey) -> Activation:
        activation = self._active.get(key)
        if activation is not None:
            return activation
        config = self.hosted.entities.get(key.actor_type)
        if config is None or self.transport is None or not self.owns(key):
            raise NotHostedHere()
        activation = Activation(
            key,
            config,
            TurnLock(reentrancy=config.reentrancy_enabled, max_stack_depth=config.reentrancy_max_stack_depth),
            self.clock(),
        )
        self._active[key] = activation
        return activation

    def _transport(self) -> ActorAppTransport:
        if self.transport is None:
            raise E.NO_APP_CHANNEL()
        return self.transport

    def _post_lock(self, key: ActorKey) -> Policy:
        if self.resiliency is None:
            return NOOP
        return self.resiliency.for_actor(key.actor_type, key.actor_id).post_lock

    # --- timers ---------------------------------------------------------------------------------

    def add_timer(self, key: ActorKey, fire: TimerFire, times: ActorTimes) -> None:
        """Creates (or replaces) the timer ``fire.name`` of ``key``, activating the actor."""
        activation = self._activation(key)
        old = activation.timers.pop(fire.name, None)
        if old is not None:
            old.cancel()
        elif self.metrics is not None:
            self.metrics.timers(key.actor_type, 1)
        activation.timers[fire.name] = asyncio.create_task(
            self._run_timer(activation, fire, times), name=f"actor timer {key}/{fire.name}"
        )

    def remove_timer(self, key: ActorKey, name: str) -> None:
        activation = self._active.get(key)
        if activation is None:
            return
        task = activation.timers.pop(name, None)
        if task is not None:
            task.cancel()
            self._timers_gone(key.actor_type, 1)

    async def _run_timer(self, activation: Activation, fire: TimerFire, times: ActorTimes) -> None:
        when, fired, period = times.due, 0, times.period
        try:
            while times.active(when):
                delay = (when - datetime.now(UTC)).total_seconds()
                if delay > 0:
                    await asyncio.sleep(delay)
                if activation.closed:
                    return
                await self._fire_timer(activation, fire)
                fired += 1
                if not period.recurring or (period.repeats is not None and fired >= period.repeats):
                    return
                when = period.following(when)
        finally:
            if activation.timers.get(fire.name) is asyncio.current_task():
                del activation.timers[fire.name]
                self._timers_gone(activation.key.actor_type, 1)

    def _timers_gone(self, actor_type: str, count: int) -> None:
        if self.metrics is not None and count:
            self.metrics.timers(actor_type, -count)

    # --- deactivation -----------------------------------------------------------------------------

    async def deactivate(self, key: ActorKey, *, drain: float | None = None) -> bool:
        """Deactivates ``key`` (False when it was not active): waits up to ``drain`` seconds for
        its calls, drops its timers and tells the app."""
        activation = self._active.get(key)
        if activation is None or activation.closed:
            return False
        activation.closed = True
        metrics = self.metrics
        if metrics is not None:
            metrics.halted(key.actor_type)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._deactivating[key] = done
        try:
            for task in activation.timers.values():
                task.cancel()
            self._timers_gone(key.actor_type, len(activation.timers))
            activation.timers.clear()
            await activation.lock.close(drain)
            if self._active.get(key) is activation:
                del self._active[key]
            transport = self.transport
            if transport is not None:
                try:
                    await transport.deactivate(key)
                except Exception as exc:
                    if metrics is not None:
                        metrics.deactivated(key.actor_type, False)
                    log.warning("deactivating actor %s failed: %s", key, exc)
                else:
                    if metrics is not None:
                        metrics.deactivated(key.actor_type, True)
        finally:
            if self._deactivating.get(key) is done:
                del self._deactivating[key]
            done.set_result(None)
        log.debug("deactivated actor %s", key)
        return True

    async def scan_idle(self) -> int:
        """One idle scan: deactivates every actor idle longer than its type's timeout."""
        now = self.clock()
        idle = [
            a.key
            for a in list(self._active.values())
            if not a.closed and not a.lock.busy and now - a.last_used >= a.config.idle_timeout
        ]
        for key in idle:
            await self.deactivate(key)
        return len(idle)

    def start(self) -> None:
        if self._scanner is None:
            self._scanner = asyncio.create_task(self._scan_loop(), name="actor idle scan")

    async def _scan_loop(self) -> None:
        while True:
            await asyncio.sleep(self.hosted.scan_interval or 30.0)
            try:
                await self.scan_idle()
            except Exception:
                log.exception("actor idle scan failed")

    async def deactivate_all(self, actor_types: set[str] | None = None) -> None:
        keys = [k for k in self._active if actor_types is None or k.actor_type in actor_types]
        await asyncio.gather(*(self.deactivate(k) for k in keys), return_exceptions=True)

    async def close(self) -> None:
        """Shutdown: no new call, every activation deactivated."""
        self._closed = True
        if self._scanner is not None:
            self._scanner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scanner
            self._scanner = None
        await self.deactivate_all()

    # --- PlacementListener ----------------------------------------------------------------------

    async def on_lock(self) -> None:
        self._unlocked.clear()

    async def on_update(self) -> None:
        moved = [a for a in list(self._active.values()) if not self.owns(a.key)]
        await asyncio.gather(
            *(
                self.deactivate(
                    a.key,
                    drain=a.config.drain_ongoing_call_timeout if a.config.drain_rebalanced_actors else None,
                )
                for a in moved
            ),
            return_exceptions=True,
        )

    async def on_unlock(self) -> None:
        self._unlocked.set()

    async def on_halt(self) -> None:
        await asyncio.gather(
            *(self.deactivate(a.key) for a in list(self._active.values())), return_exceptions=True
        )
