"""A pipeline behind the real HTTP server: answers go out as written, a failing middleware is a 500."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

from pydapr import errors
from pydapr.api.http.dispatch import build_pipeline, dapr_errors_as_responses
from pydapr.http.messages import Request, Response
from pydapr.http.server import HttpServer
from pydapr.middleware.contract import Handler
from tests.unit.middleware.conftest import component


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


async def _routes(req: Request) -> Response:
    if req.path == "/missing":
        raise errors.NOT_FOUND(req.path)
    return Response.json(b'{"ok":true}')


async def test_answers_as_written_errors_as_dapr_json_and_a_crash_is_a_500() -> None:
    limit = await component("ratelimit", maxRequestsPerSecond="1")
    auth_header = "x-boom"

    async def exploding(req: Request, call_next: Handler) -> Response:
        if req.headers.get(auth_header):
            raise RuntimeError("middleware bug")
        return await call_next(req)

    handler = build_pipeline(_routes, [exploding, limit.middleware(), dapr_errors_as_responses])
    server = await HttpServer.start(handler)
    base = f"http://127.0.0.1:{server.port}"
    try:
        status, _, body = await asyncio.to_thread(_get, base + "/ok")
        assert (status, body) == (200, b'{"ok":true}')
        status, headers, body = await asyncio.to_thread(_get, base + "/ok")
        assert (status, body) == (429, b"You have reached maximum request limit.")
        assert headers["content-type"] == "text/plain; charset=utf-8"
        assert headers["x-rate-limit-limit"] == "1.00"
        # A Dapr error further in is Dapr's JSON, and the limiter's headers are on it (as in daprd).
        status, headers, body = await asyncio.to_thread(_get, base + "/missing")
        assert status == 404 and json.loads(body)["errorCode"] == "ERR_NOT_FOUND"
        assert headers["x-rate-limit-limit"] == "1.00"
        status, _, body = await asyncio.to_thread(_get, base + "/ok", {auth_header: "1"})
        assert status == 500 and json.loads(body) == {
            "errorCode": "ERR_INTERNAL",
            "message": "internal error: RuntimeError",
        }
        # The server goes on serving.
        await asyncio.sleep(1.05)
        assert (await asyncio.to_thread(_get, base + "/ok"))[0] == 200
    finally:
        await server.shutdown(1.0)
