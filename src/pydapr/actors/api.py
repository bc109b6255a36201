"""``ActorsAPI``: the one facade the HTTP and gRPC actor APIs call (``contract.Actors``).

A method call is routed as daprd's router does (pkg/actors/router): placement names the owner;
the owner is this sidecar (the host runs the call in the actor's turn) or a peer (its internal
port). When the table changed under the call -- the host or the peer answers "not hosted here",
or the peer is gone -- the actor is looked up again, until the call's deadline. The
``OUTBOUND_ACTOR`` chain (target: the actor type) wraps the routing: Resiliency's
``targets.actors`` retry and circuit breaker apply there, before the turn lock; the timeout applies
inside the turn (the host).

The app's answer: 200 is the method's result; a failed actor method (the gRPC stream's error, or
the ``X-DaprErrorResponseHeader`` header) is ``ActorMethodError``, carrying the app's answer,
which the HTTP API returns as it is; 404 and any other status are ``ERR_ACTOR_INVOKE_METHOD``
with daprd's message ("error from actor service: (500) ...").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from pydapr.errors import DaprError, ErrorKind
from pydapr.http.messages import Request, Response
from pydapr.observability import trace_context
from pydapr.pipeline import Call, Direction, Pipeline
from pydapr.resiliency import BuiltIn, Permanent, Policy, PolicyTimeout, ResiliencyPolicies, RetrySchedule

from . import errors as E
from .contract import (
    ActorAppTransport,
    ActorKey,
    ActorLocation,
    EntityConfig,
    HostedTypes,
    InvokeRequest,
    InvokeResult,
    Placement,
    Reminder,
    ReminderFire,
    Reminders,
    StateOperation,
    TimerFire,
)
from .errors import (  # beside the kinds: the transports need not import this module
    ActorMethodError,
    LookupFailed,
    check_name,
)
from .host import ActorHost, NotHostedHere
from .peers import (
    Envelope,
    PeerClient,
    PeerGate,
    PeerMoved,
    PeerUnreachable,
    answer,
    decode_envelope,
    failure,
    moved,
    verified_identity,
    without_identity,
)
from .periods import ActorTimes, PeriodError, parse_times
from .state import ActorState

if TYPE_CHECKING:
    from pydapr.observability.metrics.blocks.actors import ActorMetrics

log = logging.getLogger("pydapr.actors")

DEFAULT_CALL_TIMEOUT = 60.0  # seconds a call may spend being routed and run when the caller set none
ERROR_RESPONSE_HEADER = "x-daprerrorresponseheader"
RESERVED_PREFIX = "dapr.internal."


# The table moved under a call: look again at once, then every 50 ms growing to 0.5 s.
RELOOKUP = Policy(
    "actor re-lookup",
    retry=RetrySchedule(
        exponential=True,
        initial_interval=0.05,
        randomization=0.0,
        multiplier=2.0,
        max_interval=0.5,
        max_elapsed=None,
    ),
)


class _NoHost(Exception):
    """Placement knows no sidecar hosting the type (``ERR_ACTOR_NO_ADDRESS``)."""

    def __init__(self, error: DaprError) -> None:
        super().__init__(error.message)
        self.error = error


class ActorsAPI:
    def __init__(
        self,
        *,
        app_id: str,
        host: ActorHost,
        state: ActorState,
        placement: Placement | None,
        peers: PeerClient | None = None,
        pipeline: Pipeline | None = None,
        reminders: Reminders | None = None,
        reminders_problem: str = "no scheduler is configured (--scheduler-host-address)",
        resiliency: ResiliencyPolicies | None = None,
        metrics: ActorMetrics | None = None,
    ) -> None:
        self.app_id = app_id
        self.host = host
        self.metrics = metrics  # Dapr's actor metrics (reminders fired), None when metrics are off
        self.state = state
        self.placement = placement
        self.peers = peers
        self.pipeline = pipeline or Pipeline()
        self.reminders = reminders
        self.reminders_problem = reminders_problem
        self._not_found = (resiliency or ResiliencyPolicies()).builtin(BuiltIn.ACTOR_NOT_FOUND)
        self._attached: ActorAppTransport | None = None
        self._http_hosted: tuple[HostedTypes, ActorAppTransport | None] | None = None
        # Actor types the sidecar itself hosts (the workflow engine's), beside the app's.
        self._internal: tuple[dict[str, EntityConfig], ActorAppTransport] | None = None
        self._app: tuple[HostedTypes, ActorAppTransport | None] = (HostedTypes({}), None)
        # Decides on peers' calls to the internal types (the workflow runtime's access policies).
        self.internal_gate: PeerGate | None = None

    # --- hosted types ---------------------------------------------------------------------------

    def host_types(self, hosted: HostedTypes, transport: ActorAppTransport | None) -> None:
        """This sidecar hosts ``hosted`` through ``transport`` (the app's /dapr/config, over HTTP)."""
        self._http_hosted = (hosted, transport)
        if self._attached is not None:
            # A callback stream attached before the app's config was read (a gRPC app dials as
            # soon as it is up): it keeps its types, now reported to placement and reminders too.
            self._apply(self._app[0], self._attached)
            return
        self._apply(hosted, transport)

    def attach_app_transport(self, hosted: HostedTypes, transport: ActorAppTransport) -> None:
        self._attached = transport
        self._apply(hosted, transport)

    def detach_app_transport(self, transport: ActorAppTransport) -> None:
        if self._attached is not transport:
            return
        self._attached = None
        gone = set(self.host.hosted.entities) - set(self._internal[0] if self._internal else ())
        previous = self._http_hosted or (HostedTypes({}), None)
        self._apply(*previous)
        # The stream is gone: its activations cannot be reached any more.
        orphans = gone - set(previous[0].entities)
        task = asyncio.get_running_loop().create_task(self.host.deactivate_all(orphans))
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    def host_internal(
        self, entities: Mapping[str, EntityConfig], transport: ActorAppTransport | None
    ) -> None:
        """Actor types served by ``transport`` inside the sidecar (the workflow engine's), hosted
        beside the app's types; an empty mapping stops hosting them."""
        before = set(self._internal[0]) if self._internal else set()
        self._internal = (dict(entities), transport) if entities and transport is not None else None
        self._apply(*self._app)
        gone = before - set(entities)
        if gone:
            task = asyncio.get_running_loop().create_task(self.host.deactivate_all(gone))
            task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    def _apply(self, hosted: HostedTypes, transport: ActorAppTransport | None) -> None:
        self._app = (hosted, transport)
        if self._internal is not None:
            internal, inner = self._internal
            app_types = dict(hosted.entities) if transport is not None else {}
            hosted = HostedTypes({**app_types, **internal}, hosted.scan_interval)
            transport = _TypeRouter(transport, inner, frozenset(internal))
        self.host.set_app(hosted, transport)
        types = sorted(hosted.entities) if transport is not None else []
        if self.placement is not None:
            self.placement.set_hosted(types)
        if self.reminders is not None:
            self.reminders.watch(types, self.fire_reminder)

    # --- method calls ---------------------------------------------------------------------------

    def _placement(self) -> Placement:
        if self.placement is None:
            raise E.NO_PLACEMENT()
        return self.placement

    async def invoke(self, request: InvokeRequest, *, timeout: float | None = None) -> InvokeResult:
        """Routes the call to the actor's owner and returns the method's result (see the module
        docstring for the errors). ``timeout``: seconds left before the caller's deadline.

        The Dapr API's entry: the workflow runtime's reserved types are refused, as daprd does
        (ERR_ACTOR_TYPE_RESERVED); the runtime itself calls ``invoke_internal``. The caller
        identity a client's metadata claims is dropped, as daprd's InvokeActor drops it."""
        _reject_reserved(request.key.actor_type)
        request.metadata = without_identity(request.metadata)
        return await self.invoke_internal(request, timeout=timeout)

    async def invoke_internal(self, request: InvokeRequest, *, timeout: float | None = None) -> InvokeResult:
        """``invoke`` for the sidecar's own internal actor types (workflows)."""
        placement = self._placement()
        deadline = time.monotonic() + (timeout if timeout and timeout > 0 else DEFAULT_CALL_TIMEOUT)

        async def routed() -> InvokeResult:
            return _answer(request, await self._route(placement, request, deadline))

        chain = self.pipeline.chain(Direction.OUTBOUND_ACTOR, request.key.actor_type)
        try:
            if chain.empty:
                return await routed()
            call = Call(
                Direction.OUTBOUND_ACTOR,
                request.key.actor_type,
                request.method,
                deadline=deadline,
                instance=request.key.actor_id,
            )
            return await chain.run(call, routed)  # type: ignore[no-any-return]
        except DaprError:
            raise
        except PolicyTimeout as exc:
            raise E.INVOKE_METHOD(f"context deadline exceeded: {exc}") from exc
        except Exception as exc:
            log.debug("actor call %s.%s failed", request.key, request.method, exc_info=True)
            raise E.INVOKE_METHOD(exc) from exc

    async def _route(self, placement: Placement, request: InvokeRequest, deadline: float) -> InvokeResult:
        async def local() -> InvokeResult:
            return await self.host.invoke(request)

        async def remote(location: ActorLocation, left: float) -> InvokeResult:
            assert self.peers is not None
            envelope = Envelope(
                request.key.actor_type,
                request.key.actor_id,
                method=request.method,
                data=request.data,
                metadata=dict(request.metadata),
                timeout=left,
            )
            return await self.peers.send(location.address, "invoke", envelope, location.app_id)

        return await self._owner_call(placement, request.key, deadline, local, remote)

    async def _owner_call(
        self,
        placement: Placement,
        key: ActorKey,
        deadline: float,
        local: Callable[[], Awaitable[InvokeResult]],
        remote: Callable[[ActorLocation, float], Awaitable[InvokeResult]],
    ) -> InvokeResult:
        """Runs ``local()`` or ``remote(location, seconds_left)`` wherever placement puts ``key``.

        Two retries, both bounded by ``deadline``: the table moved under the call (the host or the
        peer says it is not the owner, or the peer is gone) is looked up again at once and then
        with a short back-off (``RELOOKUP``); no sidecar hosting the type is looked up again under
        ``DaprBuiltInActorNotFoundRetries`` (5 times, 1 s apart; a retry policy of that name
        replaces it), as daprd's router does. Anything else is the call's answer."""

        async def attempt() -> InvokeResult:
            try:
                location = await placement.lookup(key, timeout=max(0.0, deadline - time.monotonic()))
            except DaprError as err:
                raise Permanent(_NoHost(err) if err.code == E.NO_ADDRESS.code else err) from None
            try:
                if location.local:
                    return await local()
                if self.peers is None:
                    raise E.INVOKE_METHOD("no channel to other sidecars")
                return await remote(location, max(0.0, deadline - time.monotonic()))
            except (NotHostedHere, PeerMoved, PeerUnreachable):
                log.debug("actor %s moved under the call; looking it up again", key)
                raise
            except Exception as exc:
                raise Permanent(exc) from None

        async def until_hosted() -> InvokeResult:
            try:
                return await RELOOKUP.run(attempt, deadline=deadline)
            except _NoHost:
                raise
            except Exception as exc:
                raise Permanent(exc) from None

        try:
            return await self._not_found.run(until_hosted, deadline=deadline)
        except _NoHost as exc:
            raise LookupFailed(exc.error) from None
        except (NotHostedHere, PeerMoved, PeerUnreachable, PolicyTimeout):
            raise E.INVOKE_METHOD(f"no sidecar took the call for actor {key} before its deadline") from None

    # --- reminders that fire (FireReminder) --------------------------------------------------------

    async def fire_reminder(self, reminder: Reminder) -> bool:
        """Delivers a reminder occurrence to the actor's owner; True once the app took it."""
        placement = self._placement()
        fire = ReminderFire(reminder.name, reminder.data, reminder.due_time, reminder.period)
        deadline = time.monotonic() + DEFAULT_CALL_TIMEOUT

        async def local() -> InvokeResult:
            await self.host.reminder(reminder.key, fire)
            return InvokeResult()

        async def remote(location: ActorLocation, left: float) -> InvokeResult:
            assert self.peers is not None
            envelope = Envelope(
                reminder.key.actor_type,
                reminder.key.actor_id,
                name=reminder.name,
                data=reminder.data,
                due_time=reminder.due_time,
                period=reminder.period,
                timeout=left,
            )
            return await self.peers.send(location.address, "reminder", envelope, location.app_id)

        metrics = self.metrics
        try:
            await self._owner_call(placement, reminder.key, deadline, local, remote)
        except Exception as exc:
            if metrics is not None:
                metrics.reminder_fired(reminder.key.actor_type, False)
            log.error("error executing reminder %s for actor %s: %s", reminder.name, reminder.key, exc)
            return False
        if metrics is not None:
            metrics.reminder_fired(reminder.key.actor_type, True)
        return True

    # --- state ----------------------------------------------------------------------------------

    async def get_state(self, key: ActorKey, name: str) -> tuple[bytes, Mapping[str, str]] | None:
        _reject_reserved(key.actor_type)
        return await self.state.get(key, name)

    async def transaction(self, key: ActorKey, operations: Sequence[StateOperation]) -> None:
        _reject_reserved(key.actor_type)
        await self.state.transaction(key, operations)

    # --- timers ---------------------------------------------------------------------------------

    async def register_timer(
        self,
        key: ActorKey,
        name: str,
        *,
        due_time: str,
        period: str,
        ttl: str,
        callback: str,
        data: bytes | None,
    ) -> None:
        _reject_reserved(key.actor_type)
        check_name("timer name", name)
        placement = self._placement()
        if not self.host.hosts_type(key.actor_type):
            raise E.TIMER_CREATE(f"can't create timer for actor {key}: actor type not registered")
        times = _timer_times(key, name, due_time, period, ttl)
        fire = TimerFire(name, data, callback, due_time, period)

        async def local() -> InvokeResult:
            self.host.add_timer(key, fire, times)
            return InvokeResult()

        async def remote(location: ActorLocation, left: float) -> InvokeResult:
            assert self.peers is not None
            envelope = Envelope(
                key.actor_type,
                key.actor_id,
                name=name,
                data=data,
                due_time=due_time,
                period=period,
                ttl=ttl,
                callback=callback,
                timeout=left,
            )
            return await self.peers.send(location.address, "timer", envelope, location.app_id)

        try:
            await self._owner_call(placement, key, time.monotonic() + DEFAULT_CALL_TIMEOUT, local, remote)
        except DaprError as err:
            if err.kind in (E.TIMER_CREATE, E.RUNTIME_CLOSED):
                raise
            raise E.TIMER_CREATE(err.message) from None

    async def unregister_timer(self, key: ActorKey, name: str) -> None:
        _reject_reserved(key.actor_type)
        placement = self._placement()
        if not self.host.hosts_type(key.actor_type):
            return  # daprd answers success: there is nothing to delete

        async def local() -> InvokeResult:
            self.host.remove_timer(key, name)
            return InvokeResult()

        async def remote(location: ActorLocation, left: float) -> InvokeResult:
            assert self.peers is not None
            envelope = Envelope(key.actor_type, key.actor_id, name=name, timeout=left)
            return await self.peers.send(location.address, "timer-delete", envelope, location.app_id)

        await self._owner_call(placement, key, time.monotonic() + DEFAULT_CALL_TIMEOUT, local, remote)

    # --- reminders ------------------------------------------------------------------------------

    def _reminders(self, actor_type: str, kind: ErrorKind) -> Reminders:
        _reject_reserved(actor_type)
        self._placement()
        if not self.host.hosts_type(actor_type):
            raise E.REMINDER_NOT_HOSTED()
        if self.reminders is None:
            raise kind(self.reminders_problem)
        return self.reminders

    async def register_reminder(self, reminder: Reminder) -> None:
        _reject_reserved(reminder.key.actor_type)
        check_name("reminder name", reminder.name)
        await self._reminders(reminder.key.actor_type, E.REMINDER_CREATE).create(reminder)

    async def unregister_reminder(self, key: ActorKey, name: str) -> None:
        _reject_reserved(key.actor_type)
        await self._reminders(key.actor_type, E.REMINDER_DELETE).delete(key, name)

    async def get_reminder(self, key: ActorKey, name: str) -> Reminder | None:
        _reject_reserved(key.actor_type)
        return await self._reminders(key.actor_type, E.REMINDER_GET).get(key, name)

    async def list_reminders(self, actor_type: str, actor_id: str | None = None) -> list[Reminder]:
        _reject_reserved(actor_type)
        return await self._reminders(actor_type, E.REMINDER_GET).list(actor_type, actor_id)

    async def unregister_reminders(self, actor_type: str, actor_id: str | None = None) -> None:
        _reject_reserved(actor_type)
        await self._reminders(actor_type, E.REMINDER_DELETE).delete_all(actor_type, actor_id)

    # --- calls from other sidecars (the internal port) --------------------------------------------

    async def _hosted(self, request: InvokeRequest, timeout: float | None) -> InvokeResult:
        """Another sidecar's method call, run here through the ``INBOUND_ACTOR`` chain (tracing: the
        caller's context is in the call's metadata, as the peer client put it)."""

        def run() -> Awaitable[InvokeResult]:
            coro = self.host.invoke(request)
            return asyncio.wait_for(coro, timeout) if timeout else coro

        chain = self.pipeline.chain(Direction.INBOUND_ACTOR, request.key.actor_type)
        if chain.empty:
            return await run()
        call = Call(
            Direction.INBOUND_ACTOR,
            request.key.actor_type,
            request.method,
            instance=request.key.actor_id,
            trace=request.metadata.get(trace_context.TRACEPARENT, ""),
        )
        return await chain.run(call, run)  # type: ignore[no-any-return]

    async def handle_internal(self, req: Request) -> Response:
        """A call another sidecar routed here (``peers.PREFIX`` + op); refused with "moved" when
        this sidecar does not own the actor now, so the caller looks it up again."""
        op = req.path.rsplit("/", 1)[-1]
        try:
            env = decode_envelope(req.body)
        except Exception:
            return failure(E.BAD_REQUEST("malformed actor call from another sidecar"))
        key = ActorKey(env.actor_type, env.actor_id)
        if key.actor_type.startswith(RESERVED_PREFIX):
            # The runtime's own types: the gate decides on the verified caller, whose identity
            # replaces whatever the envelope claims (daprd's CallActor / CallActorReminder).
            gate = self.internal_gate
            denial = gate.admit(op, req.identity) if gate is not None else None
            if denial is not None:
                return failure(denial)
            env.metadata = verified_identity(env.metadata, req.identity)
        try:
            placement = self.placement
            if placement is None or self.host.closed or not self.host.hosts_type(key.actor_type):
                return moved()  # shutting down, or not hosting the type: the caller looks again
            if not _owned(placement, key):
                return moved()
            if op == "invoke":
                request = InvokeRequest(key, env.method, env.data or b"", dict(env.metadata))
                return answer(await self._hosted(request, env.timeout))
            if op == "reminder":
                await self.host.reminder(key, ReminderFire(env.name, env.data, env.due_time, env.period))
                return answer()
            if op == "timer":
                times = _timer_times(key, env.name, env.due_time, env.period, env.ttl)
                fire = TimerFire(env.name, env.data, env.callback, env.due_time, env.period)
                self.host.add_timer(key, fire, times)
                return answer()
            if op == "timer-delete":
                self.host.remove_timer(key, env.name)
                return answer()
            return failure(E.BAD_REQUEST(f"unknown actor operation {op!r}"))
        except NotHostedHere:
            return moved()
        except DaprError as err:
            return failure(err)
        except TimeoutError:
            return failure(E.INVOKE_METHOD("context deadline exceeded"))
        except Exception as exc:
            log.debug("actor call from a peer failed", exc_info=True)
            return failure(E.INVOKE_METHOD(exc))


def _timer_times(key: ActorKey, name: str, due_time: str, period: str, ttl: str) -> ActorTimes:
    try:
        return parse_times(due_time, period, ttl, kind="timer", key=f"{key}||{name}")
    except PeriodError as exc:
        raise E.TIMER_CREATE(exc) from None


class _TypeRouter:
    """The host's one transport when the sidecar hosts types of its own: those go to ``inner``,
    the app's to ``app``."""

    def __init__(
        self, app: ActorAppTransport | None, inner: ActorAppTransport, types: frozenset[str]
    ) -> None:
        self.app = app
        self.inner = inner
        self.types = types

    def _for(self, actor_type: str) -> ActorAppTransport:
        if actor_type in self.types:
            return self.inner
        if self.app is None:
            raise E.NO_APP_CHANNEL()
        return self.app

    async def invoke(self, request: InvokeRequest) -> InvokeResult:
        return await self._for(request.key.actor_type).invoke(request)

    async def reminder(self, key: ActorKey, fire: ReminderFire) -> None:
        await self._for(key.actor_type).reminder(key, fire)

    async def timer(self, key: ActorKey, fire: TimerFire) -> None:
        await self._for(key.actor_type).timer(key, fire)

    async def deactivate(self, key: ActorKey) -> None:
        await self._for(key.actor_type).deactivate(key)


def _owned(placement: Placement, key: ActorKey) -> bool:
    location = placement.owner(key)
    return location is not None and location.local


def _reject_reserved(actor_type: str) -> None:
    if actor_type.startswith(RESERVED_PREFIX):
        raise E.TYPE_RESERVED(actor_type)


def _answer(request: InvokeRequest, result: InvokeResult) -> InvokeResult:
    if result.error or any(k.lower() == ERROR_RESPONSE_HEADER for k in result.headers):
        raise ActorMethodError(result)
    if result.status == 404:
        key = request.key
        raise E.INVOKE_METHOD(
            f"actor method not found: actors/{key.actor_type}/{key.actor_id}/method/{request.method}"
        )
    if result.status != 200:
        body = result.data.decode("utf-8", "replace")
        raise E.INVOKE_METHOD(f"error from actor service: ({result.status}) {body}")
    return result
