"""The one entry point of the public HTTP API: token check, routing, the ``dapr-app-id`` form.

Kept free of building-block logic: it finds the route and calls it; errors raised anywhere are
turned into Dapr's JSON error body by the HTTP server.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable

from pydapr import errors
from pydapr.api.http.router import Router
from pydapr.http.messages import Request, Response

log = logging.getLogger("pydapr.api")

# Dapr lets probes through without the API token (pkg/http/api_token.go).
TOKEN_EXEMPT = ("/v1.0/healthz", "/v1.0/healthz/outbound")

InvokeByHeader = Callable[[Request, str], Awaitable[Response]]


class HttpDispatcher:
    def __init__(
        self,
        router: Router,
        *,
        api_token: str | None,
        invoke_by_header: InvokeByHeader | None,
        api_logging: bool = False,
    ) -> None:
        self.router = router
        self.api_token = api_token.encode() if api_token else None
        self.invoke_by_header = invoke_by_header
        self.api_logging = api_logging

    async def __call__(self, req: Request) -> Response:
        if not self.api_logging:
            return await self._handle(req)
        started = time.perf_counter()
        resp = await self._handle(req)
        log.info(
            "HTTP API called: %s %s -> %d (%.2f ms)",
            req.method,
            req.path,
            resp.status,
            (time.perf_counter() - started) * 1000,
        )
        return resp

    async def _handle(self, req: Request) -> Response:
        if self.api_token is not None and req.path not in TOKEN_EXEMPT:
            given = req.headers.get("dapr-api-token")
            if given is None or not hmac.compare_digest(given.encode(), self.api_token):
                raise errors.UNAUTHORIZED()
        found = self.router.match(req.method, req.path)
        if found is not None:
            handler, params = found
            return await handler(req, params)
        app_id = req.headers.get("dapr-app-id")
        if app_id and self.invoke_by_header is not None:
            return await self.invoke_by_header(req, app_id)
        raise errors.NOT_FOUND(req.path)
