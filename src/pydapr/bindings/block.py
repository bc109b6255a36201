"""The bindings building block inside the sidecar: output bindings' API, and input bindings'
delivery to the app.

Input bindings start once the app is reachable. The sidecar asks the app whether it takes a
binding's events: HTTP apps with ``OPTIONS /<route>`` (a 2xx answer or 405 means yes; ``route``
metadata overrides the binding name), gRPC apps with ``ListInputBindings``. Each event is then
POSTed to ``/<route>`` (gRPC: ``OnBindingEvent``) with the event metadata as headers, as daprd's
app channel writes them (``api/app_metadata``), and ``Content-Type: application/json`` whatever the
data (daprd sets it on every binding event).

Each event's delivery runs through ``pipeline.chain(INBOUND_COMPONENT, <binding name>)``: a
Resiliency ``targets.components.<name>.inbound`` policy (or the ``DefaultBindingComponentInbound...``
/ ``DefaultComponentInbound...`` ones) applies there, an answer outside 2xx counting as a failure.
When that policy gives up, the handler raises and the component does what its source does with an
undelivered event (RabbitMQ requeues it, MQTT retries or leaves it unacknowledged, cron logs it).
Without any policy, the delivery runs under ``UNTIL_DELIVERED``: retried with backoff until it
succeeds or the sidecar stops, so no event is dropped while the sidecar runs.

``direction`` metadata (``input``, ``output`` or both, comma-separated) limits what a component is
used for; a binding declared ``input`` is read without asking the app.

The app's reply, as current Dapr handles it: a gRPC app's ``BindingEventResponse`` with ``to``
sends its ``data`` (re-encoded as JSON; ``null`` when it is not JSON) to each named output binding
with operation ``create``, one after the other stopping at the first failure, or all at once when
``concurrency`` is ``PARALLEL``; failures are logged and the event still counts as delivered. Its
``states``/``store_name`` are ignored, and an HTTP app's reply body is not interpreted, as in Dapr.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from pydapr.appchannel import BindingReply
from pydapr.bindings.api import BindingsAPI
from pydapr.bindings.contract import EventHandler, InputBinding, InvokeRequest, OutputBinding, ReadEvent
from pydapr.components.base import ComponentMetadata
from pydapr.pipeline import Call, Direction
from pydapr.resiliency import (
    OPEN_BREAKER_PAUSE,
    CircuitBreakerOpen,
    Failure,
    Permanent,
    Policy,
    RetrySchedule,
    Timing,
)
from pydapr.sidecar.block import BuildingBlock

if TYPE_CHECKING:
    from pydapr.api.http.router import Router
    from pydapr.sidecar.runtime import Runtime

log = logging.getLogger("pydapr.bindings")

# pydapr's default for an input binding without a Resiliency inbound policy: retry until the app
# takes the event (or the sidecar stops), waiting 0.1 s, 0.2 s ... up to 5 s between attempts.
UNTIL_DELIVERED = RetrySchedule(
    exponential=True,
    initial_interval=0.1,
    randomization=0.0,
    multiplier=2.0,
    max_interval=5.0,
    max_elapsed=None,
    max_retries=-1,
)


class DeliveryFailed(Exception):
    pass


class BindingsBlock(BuildingBlock):
    name = "bindings"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        self.channel = runtime.app_channel
        self.pipeline = runtime.pipeline
        loaded = runtime.components.by_family("bindings")
        self.outputs = {
            n: c.instance
            for n, c in loaded.items()
            if isinstance(c.instance, OutputBinding) and directions(c.metadata).get("output", True)
        }
        self.inputs = {
            n: c
            for n, c in loaded.items()
            if isinstance(c.instance, InputBinding) and directions(c.metadata).get("input", True)
        }
        # The app's route of each input binding, read now (the runtime's part of the metadata).
        self.routes = {
            name: (c.metadata.get("route") or name).lstrip("/") for name, c in self.inputs.items()
        }
        self.api = BindingsAPI(self.outputs)
        self._stopping = asyncio.Event()
        self._until_delivered = Policy(
            name="input binding delivery",
            direction="inbound",
            retry=UNTIL_DELIVERED,
            timing=Timing(sleep=self._pause),
        )
        self.reading: list[str] = []
        self._reply_tasks: set[asyncio.Task[None]] = set()

    def register_http(self, router: Router) -> None:
        from pydapr.api.http import bindings

        bindings.register(router, self.api)

    def grpc_handler(self) -> object:
        from pydapr.api.grpc.bindings import BindingsGrpc

        return BindingsGrpc(self.api)

    def metadata(self) -> dict[str, object]:
        return {}

    async def start(self) -> None:
        channel = self.channel
        if not self.inputs or not channel.configured:
            return
        routes = self.routes
        # A binding declared ``direction: input`` is read without asking the app.
        ask = {
            name: route
            for name, route in routes.items()
            if not directions(self.inputs[name].metadata).get("input")
        }
        wanted = await channel.input_bindings(ask) if ask else set()
        for name, loaded in self.inputs.items():
            route = routes[name]
            if name in ask and name not in wanted:
                log.info("app is not subscribed to input binding %s", name)
                continue
            instance = loaded.instance
            assert isinstance(instance, InputBinding)
            await instance.read(self._handler(name, route))
            self.reading.append(name)
            log.info("input binding %s: delivering to the app at /%s", name, route)

    async def _pause(self, seconds: float) -> None:
        """The wait between attempts of ``UNTIL_DELIVERED``; cut short when the sidecar stops."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _handler(self, name: str, route: str) -> EventHandler:
        async def handle(event: ReadEvent) -> bytes:
            reply = await self._deliver(name, route, event)
            if reply.to:
                await self.send_to_outputs(name, list(reply.to), reply.data, reply.parallel)
            return reply.data

        return handle

    async def _deliver(self, name: str, route: str, event: ReadEvent) -> BindingReply:
        """One event to the app, under the component's inbound policy or ``UNTIL_DELIVERED``."""

        async def attempt() -> BindingReply:
            if self._stopping.is_set():  # not retried: the event goes back to the component
                raise Permanent(DeliveryFailed(f"sidecar stopping; event for {name} not delivered"))
            try:
                return await self.channel.binding_event(name, route, event)
            except Exception as exc:
                log.warning("delivering an event of input binding %s failed (%s)", name, exc)
                raise

        chain = self.pipeline.chain(Direction.INBOUND_COMPONENT, name)
        if chain.empty:
            reply = await self._until_delivered.run(attempt, classify=_failed_reply)
        else:
            # An event may carry its producer's context (a Kafka or HTTP header): the delivery continues it.
            trace = event.metadata.get("traceparent") or ""
            call = Call(Direction.INBOUND_COMPONENT, name, route, classify=_failed_reply, trace=trace)
            until_delivered = self._until_delivered
            run = (
                attempt
                if not chain.observes_only
                else lambda: until_delivered.run(attempt, classify=_failed_reply)
            )
            try:
                reply = await chain.run(call, run)
            except CircuitBreakerOpen:
                # Handed back after a pause: a binding that redelivers at once must not spin on it.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), OPEN_BREAKER_PAUSE)
                raise
        if not 200 <= reply.status < 300:
            if self._stopping.is_set():
                raise DeliveryFailed(f"sidecar stopping; event for {name} not delivered")
            raise DeliveryFailed(f"app answered {reply.status}")
        return reply

    async def send_to_outputs(self, name: str, targets: list[str], data: bytes, parallel: bool) -> None:
        """The app's reply to an event of ``name`` asks for ``data`` to go to output bindings."""
        payload = _reply_payload(data)

        async def send(target: str) -> None:
            await self.api.invoke(target, InvokeRequest("create", payload))

        if parallel:
            for target in targets:
                task = asyncio.create_task(self._logged(name, target, send(target)))
                self._reply_tasks.add(task)
                task.add_done_callback(self._reply_tasks.discard)
            return
        for target in targets:
            try:
                await send(target)
            except Exception as exc:
                log.error("error executing app response of input binding %s: %s", name, exc)
                return

    @staticmethod
    async def _logged(name: str, target: str, call: Awaitable[None]) -> None:
        try:
            await call
        except Exception as exc:
            log.error("app response of input binding %s: output binding %s failed: %s", name, target, exc)

    async def stop(self) -> None:
        self._stopping.set()
        if self._reply_tasks:
            await asyncio.wait(set(self._reply_tasks), timeout=10)
        for name in self.reading:
            instance = self.inputs[name].instance
            try:
                await instance.close()
            except Exception:
                log.exception("stopping input binding %s failed", name)
        self.reading.clear()


def directions(metadata: ComponentMetadata) -> dict[str, bool]:
    """``direction`` metadata as {"input": bool, "output": bool}; empty when not set."""
    text = metadata.get("direction")
    if not text:
        return {}
    given = {d.strip().lower() for d in text.split(",")}
    return {"input": "input" in given, "output": "output" in given}


def _failed_reply(reply: BindingReply) -> Failure | None:
    """An answer outside 2xx did not deliver the event."""
    return None if 200 <= reply.status < 300 else Failure(http_status=reply.status)


def _reply_payload(data: bytes) -> bytes:
    """What Dapr sends on for a reply's ``data``: its JSON, re-encoded; ``null`` when not JSON."""
    import msgspec

    try:
        return msgspec.json.encode(msgspec.json.decode(data)) if data else b"null"
    except msgspec.DecodeError:
        return b"null"
