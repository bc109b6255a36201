"""The metrics port: ``GET /metrics`` in the Prometheus text format, as daprd's metrics server
(any path other than /metrics is 404, a verb other than GET or HEAD 405)."""

from __future__ import annotations

import asyncio

from pydapr.http.messages import Headers, Request, Response
from pydapr.http.server import Handler, HttpServer

from .families import render
from .model import Registry


def metrics_handler(registry: Registry) -> Handler:
    # The classic text format, as daprd's Go client serves it to a Prometheus scrape.
    content_type = Headers.from_lowercase([("content-type", "text/plain; version=0.0.4; charset=utf-8")])

    async def serve(req: Request) -> Response:
        if req.path != "/metrics":
            return Response(404, body=b"404 page not found\n")
        if req.method not in ("GET", "HEAD"):
            return Response(405, body=b"method not allowed\n")
        # Off the event loop: the families are copied under the GIL, so calls go on meanwhile.
        body = await asyncio.to_thread(render, registry)
        return Response(200, content_type, b"" if req.method == "HEAD" else body)

    return serve


async def start_metrics_server(registry: Registry, host: str, port: int) -> HttpServer:
    """Raises OSError when the address cannot be bound (the runtime turns it into a startup error)."""
    return await HttpServer.start(metrics_handler(registry), host=host, port=port, max_body_size=64 * 1024)
