"""The bindings building block inside the sidecar: output bindings' API, and input bindings'
delivery to the app.

Input bindings start once the app is reachable. The sidecar asks the app whether it takes a
binding's events: HTTP apps with ``OPTIONS /<route>`` (any answer but 404 means yes; ``route``
metadata overrides the binding name), gRPC apps with ``ListInputBindings``. Each event is then
POSTed to ``/<route>`` (gRPC: ``OnBindingEvent``) with the event metadata as headers. A failed
delivery (app unreachable, non-2xx) is retried with backoff until it succeeds or the sidecar
stops, so no event is dropped while the sidecar runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from pydapr.bindings.api import BindingsAPI
from pydapr.bindings.contract import InputBinding, OutputBinding, ReadEvent
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
        self.outputs = {n: c.instance for n, c in loaded.items() if isinstance(c.instance, OutputBinding)}
        self.inputs = {n: c for n, c in loaded.items() if isinstance(c.instance, InputBinding)}
        self.api = BindingsAPI(self.outputs)
        self._stopping = asyncio.Event()
        self.reading: list[str] = []

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
            if channel.protocol == "grpc":
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
        return resp.status != 404

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
            from dapr.proto.runtime.v1 import appcallback_pb2

            request = appcallback_pb2.BindingEventRequest(name=name, data=event.data, metadata=event.metadata)
            async with channel.slot():
                reply = await channel.callback_stub().OnBindingEvent(
                    request, metadata=channel.grpc_metadata(), timeout=60
                )
            return bytes(reply.data)
        headers = Headers([(k, v) for k, v in event.metadata.items() if _header_safe(k, v)])
        if event.data and headers.get("content-type") is None:
            headers.set(
                "content-type", "application/json" if _is_json(event.data) else "application/octet-stream"
            )
        resp = await channel.http("POST", "/" + route, headers=headers, body=event.data, timeout=60.0)
        if not 200 <= resp.status < 300:
            raise DeliveryFailed(f"app answered {resp.status}")
        return resp.body

    async def stop(self) -> None:
        self._stopping.set()
        for name in self.reading:
            instance = self.inputs[name].instance
            try:
                await instance.close()
            except Exception:
                log.exception("stopping input binding %s failed", name)
        self.reading.clear()


def _header_safe(name: str, value: str) -> bool:
    return (
        bool(name)
        and all(33 <= ord(c) < 127 and c != ":" for c in name)
        and "\n" not in value
        and "\r" not in value
    )


def _is_json(data: bytes) -> bool:
    import msgspec

    try:
        msgspec.json.decode(data)
    except msgspec.DecodeError:
        return False
    return True
