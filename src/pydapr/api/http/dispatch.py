"""The one entry point of the public HTTP API: a middleware chain around routing.

Every request passes the same chain — CORS, API token, the Configuration's ``httpPipeline``
middleware components, then the step into the call pipeline (``api/http/inbound.py``: API logging,
later tracing and metrics) — each a ``Middleware`` that takes the request and the next step. A
response a middleware returns goes to the client as it is; errors raised anywhere become Dapr's
JSON error body in the HTTP server (a ``DaprError`` its own, anything else a 500).
No building-block logic lives here.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence

from pydapr import errors
from pydapr.api.http.router import Router
from pydapr.http.messages import Request, Response

Handler = Callable[[Request], Awaitable[Response]]
Middleware = Callable[[Request, Handler], Awaitable[Response]]

# daprd (pkg/api/http/middlewares.go) lets health probes through without the token, GET only
# (Kubernetes probes cannot send one); the path is compared without its surrounding slashes.
TOKEN_EXEMPT = frozenset({"v1.0/healthz", "v1.0/healthz/outbound"})
API_TOKEN_HEADER = "dapr-api-token"


def token_exempt(method: str, path: str) -> bool:
    return method == "GET" and path.strip("/") in TOKEN_EXEMPT


def api_token_middleware(token: str) -> Middleware:
    """Every request but a health probe must carry ``dapr-api-token: <token>`` (401 otherwise).

    The header is then taken off the request, as daprd does, so it goes no further: a service
    invocation does not hand the caller's Dapr token to the app. Compared in constant time; the
    value given is never logged nor echoed in the error."""
    expected = token.encode()

    async def check_token(req: Request, call_next: Handler) -> Response:
        given = req.headers.get(API_TOKEN_HEADER)
        valid = given is not None and hmac.compare_digest(given.encode(), expected)
        if not valid and not token_exempt(req.method, req.path):
            return _unauthorized()
        req.headers.remove(API_TOKEN_HEADER)
        return await call_next(req)

    return check_token


def _unauthorized() -> Response:
    """daprd's answer, word for word (Go's ``http.Error``): plain text, not a JSON error body."""
    resp = Response(401, body=b"invalid api token\n")
    resp.headers.set("content-type", "text/plain; charset=utf-8")
    resp.headers.set("x-content-type-options", "nosniff")
    return resp


class Routes:
    """The innermost step: the router, then the fallback for paths no route serves.

    The fallback is service invocation's (the ``dapr-app-id`` header or Basic-auth forms), as in
    daprd, where the invoke handler is the router's NotFound handler.
    """

    def __init__(self, router: Router, fallback: Handler | None) -> None:
        self.router = router
        self.fallback = fallback

    def __call__(self, req: Request) -> Awaitable[Response]:
        # Not a coroutine: the handler's own awaitable is the answer, one frame less for every
        # await inside the request to pass through. A path no route serves raises here, where the
        # step before awaits.
        found = self.router.match_route(req.method, req.path)
        if found is not None:
            handler, params, req.route = found
            return handler(req, params)
        if self.fallback is not None:
            return self.fallback(req)
        raise errors.NOT_FOUND(req.path)


async def dapr_errors_as_responses(req: Request, call_next: Handler) -> Response:
    """A ``DaprError`` raised further in becomes its JSON error response here, as the server renders it.

    Placed after the Configuration's ``httpPipeline`` middlewares (only when there are some), so they
    see every answer as a response they can change, like daprd's middlewares, which wrap the writer
    the handlers answer through. Other exceptions go on to the server, which answers 500.
    """
    try:
        return await call_next(req)
    except errors.DaprError as err:
        return Response.json(err.http_body(), err.http_status)


def build_pipeline(inner: Handler, middlewares: Sequence[Middleware]) -> Handler:
    """Wrap ``inner`` so the first middleware runs first; built once, so a request pays no lookup."""
    handler = inner
    for middleware in reversed(middlewares):
        handler = _link(middleware, handler)
    return handler


def _link(middleware: Middleware, call_next: Handler) -> Handler:
    # Not a coroutine: the middleware's awaitable is the step's (no frame of its own per request).
    def step(req: Request) -> Awaitable[Response]:
        return middleware(req, call_next)

    return step
