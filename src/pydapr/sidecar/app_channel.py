"""The sidecar's channel to its own app, over HTTP or gRPC.

Every call to the app goes through here, so the app API token, ``--app-max-concurrency`` and the
app's address are applied in one place. HTTP apps are reached with the pooled HTTP client; gRPC
apps through the ``AppCallback`` stubs on one shared channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
from collections.abc import AsyncIterator

import grpc
from dapr.proto.runtime.v1 import appcallback_pb2_grpc

from pydapr.http.client import HttpClient
from pydapr.http.messages import Headers, Response
from pydapr.sidecar.options import SidecarOptions

APP_API_TOKEN_HEADER = "dapr-api-token"


class AppChannel:
    def __init__(self, options: SidecarOptions, http_client: HttpClient) -> None:
        self.options = options
        self.host = options.app_channel_address
        self.port = options.app_port
        self.protocol = "grpc" if options.app_uses_grpc else "http"
        self._client = http_client
        self._token = os.environ.get("APP_API_TOKEN") or None
        self._limit = (
            asyncio.Semaphore(options.app_max_concurrency) if options.app_max_concurrency > 0 else None
        )
        self._ssl: ssl.SSLContext | None = None
        if options.app_uses_tls and self.protocol == "http":
            # Dapr does not verify the app's certificate on the local channel (the app is on loopback).
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            self._ssl = ctx
        self._grpc: grpc.aio.Channel | None = None

    @property
    def configured(self) -> bool:
        return self.port is not None and self.port > 0

    async def wait_until_reachable(self, poll: float = 0.1) -> None:
        """Dial the app port until it accepts a connection (Dapr dials every 100 ms, forever)."""
        assert self.port is not None
        while True:
            try:
                _, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                await asyncio.sleep(poll)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Holds one of the app's ``--app-max-concurrency`` slots for the duration of a call."""
        if self._limit is None:
            yield
            return
        async with self._limit:
            yield

    def _with_token(self, headers: Headers | None) -> Headers:
        headers = headers if headers is not None else Headers()
        if self._token is not None:
            headers.set(APP_API_TOKEN_HEADER, self._token)
        return headers

    async def http(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        headers: Headers | None = None,
        body: bytes = b"",
        timeout: float | None = None,
    ) -> Response:
        """One HTTP request to the app; raises pydapr.http.client errors when the app can't be reached."""
        assert self.port is not None
        target = f"{path}?{query}" if query else path
        if not target.startswith("/"):
            target = "/" + target
        async with self.slot():
            return await self._client.request(
                method,
                self.host,
                self.port,
                target,
                self._with_token(headers),
                body,
                timeout=timeout,
                ssl=self._ssl,
            )

    def grpc_channel(self) -> grpc.aio.Channel:
        if self._grpc is None:
            target = f"{self.host}:{self.port}"
            if self.options.app_uses_tls:
                self._grpc = grpc.aio.secure_channel(target, grpc.ssl_channel_credentials())
            else:
                self._grpc = grpc.aio.insecure_channel(target)
        return self._grpc

    def grpc_metadata(self) -> tuple[tuple[str, str], ...]:
        return ((APP_API_TOKEN_HEADER, self._token),) if self._token else ()

    def callback_stub(self) -> appcallback_pb2_grpc.AppCallbackStub:
        return appcallback_pb2_grpc.AppCallbackStub(self.grpc_channel())

    def callback_alpha_stub(self) -> appcallback_pb2_grpc.AppCallbackAlphaStub:
        return appcallback_pb2_grpc.AppCallbackAlphaStub(self.grpc_channel())

    def health_stub(self) -> appcallback_pb2_grpc.AppCallbackHealthCheckStub:
        return appcallback_pb2_grpc.AppCallbackHealthCheckStub(self.grpc_channel())

    async def close(self) -> None:
        if self._grpc is not None:
            await self._grpc.close()
            self._grpc = None
