"""The bindings building block inside the sidecar: output bindings' API, and input bindings'
delivery to the app.

Input bindings start once the app is reachable. The sidecar asks the app whether it takes a
binding's events: HTTP apps with ``OPTIONS /<route>`` (a 2xx answer or 405 means yes; ``route``
metadata overrides the binding name), gRPC apps with ``ListInputBindings``. Each event is then
POSTed to ``/<route>`` (gRPC: ``OnBindingEvent``) with the event metadata as headers, as daprd's
app channel writes them (``api/app_metadata``), and ``Content-Type: application/json`` whatever the
data (daprd sets it on every binding event). A failed
delivery (app unreachable, non-2xx) is retried with backoff until it succeeds or the sidecar
stops, so no event is dropped while the sidecar runs.

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

from pydapr.api import app_metadata
from pydapr.bindings.api import BindingsAPI
from pydapr.bindings.contract import InputBinding, InvokeRequest, OutputBinding, ReadEvent
from pydapr.components.base import ComponentMetadata
from pydapr.http.messages import Headers
from pydapr.sidecar.block import BuildingBlock

if TYPE_CHECKING:
    from pydapr.api.http.router import Router
    from pydapr.sidecar.runtime import Runtime

log = logging.getLogger("pydapr.bindings")

RETRY_FIRST = 0.1
RETRY_MAX = 5.0


class DeliveryFailed(Exception):
    pass


class BindingsBlock(BuildingBlock):
    name = "bindings"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
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
        self.api = BindingsAPI(self.outputs)
        self._stopping = asyncio.Event()
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
        channel = self.runtime.app_channel
        if not self.inputs or not channel.configured:
            return
        grpc_bindings: set[str] = set()
        if channel.protocol == "grpc":
            from google.protobuf import empty_pb2

            try:
                reply = await channel.callback_stub().ListInputBindings(
                    empty_pb2.Empty(), metadata=channel.grpc_metadata(), timeout=10
                )
                grpc_bindings = set(reply.bindings)
            except Exception as exc:
                log.warning("ListInputBindings failed: %s", exc)
        for name, loaded in self.inputs.items():
            route = (loaded.metadata.get("route") or name).lstrip("/")
            if directions(loaded.metadata).get("input"):
                wanted = True
            elif channel.protocol == "grpc":
                wanted = name in grpc_bindings
            else:
                wanted = await self._http_wants(route)
            if not wanted:
                log.info("app is not subscribed to input binding %s", name)
                continue
            instance = loaded.instance
            assert isinstance(instance, InputBinding)
            await instance.read(self._handler(name, route))
            self.reading.append(name)
            log.info("input binding %s: delivering to the app at /%s", name, route)

    async def _http_wants(self, route: str) -> bool:
        try:
            resp = await self.runtime.app_channel.http("OPTIONS", "/" + route, timeout=10.0)
        except Exception as exc:
            log.warning("probing the app for input binding route /%s failed: %s", route, exc)
            return False
        # As Dapr: a 2xx answer, or 405 (the route exists but takes only POST), means yes.
        return 200 <= resp.status < 300 or resp.status == 405

    def _handler(self, name: str, route: str):  # type: ignore[no-untyped-def]
        async def handle(event: ReadEvent) -> bytes:
            delay = RETRY_FIRST
            while True:
                try:
                    return await self._deliver(name, route, event)
                except Exception as exc:
                    if self._stopping.is_set():
                        raise DeliveryFailed(f"sidecar stopping; event for {name} not delivered") from exc
                    log.warning("delivering an event of input binding %s failed (%s); retrying", name, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                delay = min(delay * 2, RETRY_MAX)

        return handle

    async def _deliver(self, name: str, route: str, event: ReadEvent) -> bytes:
        channel = self.runtime.app_channel
        if channel.protocol == "grpc":
            from pydapr.api.grpc.wire import runtime

            request = runtime.BindingEventRequest(name=name, data=event.data, metadata=event.metadata)
            async with channel.slot():
                reply = await channel.callback_stub().OnBindingEvent(
                    request, metadata=channel.grpc_metadata(), timeout=60
                )
            if reply.to:
                parallel = reply.concurrency == runtime.BindingEventResponse.PARALLEL
                await self.send_to_outputs(name, list(reply.to), bytes(reply.data), parallel)
            return bytes(reply.data)
        # As daprd: the event's metadata as headers, and always Content-Type: application/json.
        headers = Headers(app_metadata.http_headers(event.metadata))
        headers.set("content-type", "application/json")
        resp = await channel.http("POST", "/" + route, headers=headers, body=event.data, timeout=60.0)
        if not 200 <= resp.status < 300:
            raise DeliveryFailed(f"app answered {resp.status}")
        return resp.body

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


def _reply_payload(data: bytes) -> bytes:
    """What Dapr sends on for a reply's ``data``: its JSON, re-encoded; ``null`` when not JSON."""
    import msgspec

    try:
        return msgspec.json.encode(msgspec.json.decode(data)) if data else b"null"
    except msgspec.DecodeError:
        return b"null"
