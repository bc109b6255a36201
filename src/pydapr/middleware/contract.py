"""What an HTTP middleware component offers: metadata checked at ``init``, then one request handler.

``Handler`` and ``Middleware`` have exactly the shape of ``pydapr.api.http.dispatch``'s (they are
structural aliases, declared here so this package does not import the API layer that will use it).
A middleware answers a request itself (Dapr's rejections are plain-text bodies, not Dapr error JSON)
or calls the next step; it works the same in ``httpPipeline`` (app → Dapr API) and
``appHttpPipeline`` (Dapr → app).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydapr.components.base import Component
from pydapr.http.messages import Headers, Request, Response

Handler = Callable[[Request], Awaitable[Response]]
Middleware = Callable[[Request, Handler], Awaitable[Response]]

# Go's http.StatusText for the statuses these middlewares answer with.
STATUS_TEXT = {
    400: "Bad Request",
    401: "Unauthorized",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


class HttpMiddleware(Component):
    """Base of all HTTP middleware components: ``init`` validates, ``handler`` is built once after it."""

    _built: Middleware | None = None

    def handler(self) -> Middleware:
        raise NotImplementedError

    def middleware(self) -> Middleware:
        """``handler()``, built on the first call and the same callable after: the pipelines share it.

        As in daprd, where a component's handler is created once when it loads, a component named in
        both ``httpPipeline`` and ``appHttpPipeline`` (or twice in one) has one state — one set of
        rate-limit buckets, one cached key set. The callable takes the next step per call, so it can
        sit in any number of chains.
        """
        built = self._built
        if built is None:
            built = self._built = self.handler()
        return built


def text_response(status: int, message: str) -> Response:
    """A plain-text answer as components-contrib's ``httputils.RespondWithErrorAndMessage`` writes it."""
    headers = Headers.from_lowercase([("content-type", "text/plain; charset=utf-8")])
    return Response(status, headers, message.encode())


def status_response(status: int) -> Response:
    """``httputils.RespondWithError``: the status text as the body."""
    return text_response(status, STATUS_TEXT[status])
