"""The dashboard's HTTP server: the page, the live fragment htmx polls, and the static files.

Served by pydapr's own HTTP server (``pydapr.http``), so the dashboard adds no dependency. Routes:
``/`` (the page), ``/fragment`` (the live sections), ``/static/<file>``, ``/healthz``.
"""

from __future__ import annotations

import json
import logging
from importlib import resources
from urllib.parse import unquote

from pydapr.dashboard.collect import Collector
from pydapr.dashboard.render import error_fragment, fragment, page
from pydapr.http.messages import Headers, Request, Response
from pydapr.http.server import HttpServer

log = logging.getLogger("pydapr.dashboard")

_STATIC = {
    "htmx.min.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
# Scripts and styles only from this server: a value a sidecar reports can never run as code,
# even if escaping were missed somewhere.
_SECURITY = [
    ("content-security-policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
]


def _response(status: int, content_type: str, body: bytes, cache: str = "no-store") -> Response:
    headers = Headers.from_lowercase([("content-type", content_type), ("cache-control", cache), *_SECURITY])
    return Response(status, headers, body)


def _html(text: str, status: int = 200) -> Response:
    return _response(status, "text/html; charset=utf-8", text.encode())


class Dashboard:
    """Answers the dashboard's requests from one ``Collector``."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        folder = resources.files("pydapr.dashboard").joinpath("static")
        self._static = {name: folder.joinpath(name).read_bytes() for name in _STATIC}

    async def _live(self) -> str:
        try:
            return fragment(await self.collector.snapshot())
        except Exception as exc:  # a refresh that failed says so in the page, the next may succeed
            log.exception("dashboard refresh failed")
            return error_fragment(f"refresh failed: {exc}")

    async def _metadata(self, app_id: str) -> Response:
        """The metadata of one app's sidecar as the last refresh got it (the page links it)."""
        snap = await self.collector.snapshot()
        for app in snap.apps:
            if app.instance.app_id == app_id and app.instance.metadata is not None:
                body = json.dumps(app.instance.metadata, indent=2, sort_keys=True).encode()
                return _response(200, "application/json", body)
        return _response(404, "text/plain; charset=utf-8", b"no such app, or its sidecar did not answer\n")

    async def handle(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return _response(405, "text/plain; charset=utf-8", b"method not allowed\n")
        path = request.path
        if path == "/":
            return _html(page(await self._live()))
        if path == "/fragment":
            return _html(await self._live())
        if path.startswith("/apps/") and path.endswith("/metadata"):
            return await self._metadata(unquote(path[len("/apps/") : -len("/metadata")]))
        if path == "/favicon.ico":
            return Response(204)
        if path == "/healthz":
            return _response(200, "text/plain; charset=utf-8", b"ok\n")
        if path.startswith("/static/"):
            name = path[len("/static/") :]
            if name in self._static:
                return _response(200, _STATIC[name], self._static[name], "max-age=3600")
        return _response(404, "text/plain; charset=utf-8", b"not found\n")


async def start(collector: Collector, host: str, port: int) -> HttpServer:
    """Listens on ``host:port`` (0: any free port; the server's ``port`` says which)."""
    return await HttpServer.start(Dashboard(collector).handle, host=host, port=port, keepalive_timeout=30.0)
