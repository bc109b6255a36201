"""CORS on the public HTTP API, as daprd applies it with ``--allowed-origins``.

daprd adds its CORS middleware only when the allowed origins are not the default ``*`` (then
browsers get no CORS headers at all, as from daprd). With a list, it behaves as go-chi/cors
configured by daprd (pkg/api/http/server.go): methods HEAD, GET, POST, PUT, PATCH, DELETE; any
request header; origins matched exactly or with one ``*`` wildcard (``https://*.example.com``).
A preflight is answered by the middleware itself with 200 and never reaches a route or the API
token check, so browsers can ask before they send the token.
"""

from __future__ import annotations

from pydapr import errors
from pydapr.api.http.dispatch import Handler, Middleware
from pydapr.http.messages import Request, Response

DEFAULT_ALLOWED_ORIGINS = "*"
ALLOWED_METHODS = frozenset({"HEAD", "GET", "POST", "PUT", "PATCH", "DELETE"})


class _Origins:
    def __init__(self, allowed: str) -> None:
        self.any = False
        self.exact: set[str] = set()
        self.wildcards: list[tuple[str, str]] = []
        for raw in allowed.split(","):
            origin = raw.strip().lower()
            if not origin:
                continue
            if origin == "*":
                self.any = True
            elif "*" in origin:
                prefix, _, suffix = origin.partition("*")
                self.wildcards.append((prefix, suffix))
            else:
                self.exact.add(origin)

    def allows(self, origin: str) -> bool:
        origin = origin.lower()
        if self.any or origin in self.exact:
            return True
        return any(
            len(origin) >= len(p) + len(s) and origin.startswith(p) and origin.endswith(s)
            for p, s in self.wildcards
        )


def cors_middleware(allowed_origins: str) -> Middleware | None:
    """The middleware for ``--allowed-origins``, or None for the default (daprd adds none then)."""
    if allowed_origins.strip() == DEFAULT_ALLOWED_ORIGINS:
        return None
    origins = _Origins(allowed_origins)

    async def cors(req: Request, call_next: Handler) -> Response:
        origin = req.headers.get("origin")
        requested = req.headers.get("access-control-request-method")
        if req.method == "OPTIONS" and requested is not None:
            resp = Response(200)
            resp.headers.add("vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
            method = requested.upper()
            if origin and origins.allows(origin) and method in ALLOWED_METHODS:
                resp.headers.add("access-control-allow-origin", origin)
                resp.headers.add("access-control-allow-methods", method)
                wanted = req.headers.get("access-control-request-headers")
                if wanted:
                    resp.headers.add("access-control-allow-headers", wanted)
            return resp
        try:
            resp = await call_next(req)
        except errors.DaprError as err:
            # Errors carry the CORS headers too, or the browser hides the error from the page.
            resp = Response.json(err.http_body(), err.http_status)
        resp.headers.add("vary", "Origin")
        if origin and origins.allows(origin) and req.method in ALLOWED_METHODS:
            resp.headers.add("access-control-allow-origin", origin)
        return resp

    return cors
