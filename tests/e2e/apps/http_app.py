"""An HTTP app written the way Dapr users write them: FastAPI with the official SDK's extension
(``dapr.ext.fastapi.DaprApp``), served by uvicorn, calling other apps through its sidecar with the
official Dapr Python SDK."""

from __future__ import annotations

import asyncio
import os

import uvicorn
from dapr.ext.fastapi import DaprApp
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

app = FastAPI()
dapr_app = DaprApp(app)  # serves /dapr/subscribe, as every SDK FastAPI app does
_active = 0
_peak = 0
_healthy = True


@app.api_route("/echo/{path:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
async def echo(path: str, request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse(
        {
            "app": os.environ.get("APP_ID", ""),
            "method": request.method,
            "path": path,
            "query": request.url.query,
            "headers": {k: v for k, v in request.headers.items()},
            "body": body.decode("utf-8", "replace"),
        },
        headers={"x-echo-app": os.environ.get("APP_ID", "")},
    )


@app.post("/neworder")
async def neworder(request: Request) -> JSONResponse:
    order = await request.json()
    return JSONResponse({"accepted": order, "by": os.environ.get("APP_ID", "")})


@app.get("/fail")
async def fail() -> Response:
    return Response("the app failed on purpose", status_code=500, media_type="text/plain")


@app.get("/teapot")
async def teapot() -> Response:
    return Response("short and stout", status_code=418, media_type="text/plain")


@app.get("/slow")
async def slow(seconds: float = 0.5) -> JSONResponse:
    global _active, _peak
    _active += 1
    _peak = max(_peak, _active)
    try:
        await asyncio.sleep(seconds)
    finally:
        _active -= 1
    return JSONResponse({"slept": seconds})


_attempts: dict[str, int] = {}


@app.post("/flaky/{key}")
async def flaky(key: str, fail: int = 2, status: int = 503, retry_after: str = "") -> Response:
    """Fails the first ``fail`` calls for ``key`` with ``status``, then answers how many calls it saw."""
    _attempts[key] = _attempts.get(key, 0) + 1
    if _attempts[key] <= fail:
        headers = {"retry-after": retry_after} if retry_after else {}
        return Response(f"attempt {_attempts[key]} failed", status_code=status, headers=headers)
    return JSONResponse({"attempts": _attempts[key]})


@app.get("/peak")
async def peak() -> JSONResponse:
    return JSONResponse({"peak": _peak})


@app.get("/healthz")
async def healthz() -> Response:
    return Response(status_code=200 if _healthy else 503)


@app.post("/sick")
async def sick() -> Response:
    global _healthy
    _healthy = False
    return Response(status_code=204)


@app.get("/relay")
def relay(target: str, method: str, protocol: str = "http") -> JSONResponse:
    """Calls another app through this app's sidecar with the SDK's sync client."""
    from dapr.clients import DaprClient
    from dapr.conf import settings

    settings.DAPR_API_METHOD_INVOCATION_PROTOCOL = protocol
    with DaprClient() as client:
        resp = client.invoke_method(
            target, method, data=b'{"from": "relay"}', http_verb="POST", content_type="application/json"
        )
        return JSONResponse({"status": resp.status_code, "body": resp.text()})


@app.get("/relay-async")
async def relay_async(target: str, method: str) -> JSONResponse:
    """Calls another app through this app's sidecar with the SDK's asyncio client (gRPC)."""
    from dapr.aio.clients import DaprClient

    async with DaprClient() as client:
        resp = await client.invoke_method(
            target, method, data=b'{"from": "relay-async"}', http_verb="POST", content_type="application/json"
        )
        return JSONResponse({"body": resp.text(), "content_type": resp.content_type})


_binding_events: dict[str, int] = {}
_binding_delivered: dict[str, int] = {}


@app.post("/binding-flaky")
async def binding_flaky(request: Request) -> Response:
    """An input binding's route: the event ``{"key", "fail"}`` is refused (500) ``fail`` times, then
    taken. ``OPTIONS /binding-flaky`` answers 405 (POST only), which Dapr reads as "subscribed"."""
    event = await request.json()
    key = str(event["key"])
    _binding_events[key] = _binding_events.get(key, 0) + 1
    if _binding_events[key] <= int(event.get("fail", 0)):
        return Response(f"attempt {_binding_events[key]} refused", status_code=500)
    _binding_delivered[key] = _binding_delivered.get(key, 0) + 1
    return Response(status_code=200)


@app.get("/binding-flaky/{key}")
async def binding_flaky_seen(key: str) -> JSONResponse:
    seen = {"attempts": _binding_events.get(key, 0), "delivered": _binding_delivered.get(key, 0)}
    return JSONResponse(seen)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["APP_PORT"]), log_level="warning")
