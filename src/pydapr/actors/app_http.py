"""The host's calls to an HTTP app, through the app channel (dapr/dapr
pkg/actors/targets/app/transport/http): ``PUT /actors/{type}/{id}/method/{method}``, reminders as
``.../method/remind/{name}``, timers as ``.../method/timer/{name}``, ``DELETE /actors/{type}/{id}``
to deactivate. The app's answer comes back as it is; what an error answer means is the router's
business (``pydapr.actors.api``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

import msgspec

from pydapr.http.client import HttpClientError
from pydapr.http.messages import Headers, Response
from pydapr.invoke.headers import HOP_BY_HOP
from pydapr.observability import trace_context

from . import errors as E
from .contract import ActorKey, InvokeRequest, InvokeResult, ReminderFire, TimerFire

if TYPE_CHECKING:
    from pydapr.appchannel import AppChannel

# Go's URL path escaping keeps these as they are.
_PATH_SAFE = "!$&'()*+,;=:@-._~"


def actor_path(key: ActorKey) -> str:
    return f"/actors/{quote(key.actor_type, safe=_PATH_SAFE)}/{quote(key.actor_id, safe=_PATH_SAFE)}"


def _json_or_null(data: bytes | None) -> msgspec.Raw:
    return msgspec.Raw(data) if data else msgspec.Raw(b"null")


class HttpActorTransport:
    def __init__(self, channel: AppChannel) -> None:
        self.channel = channel

    async def _send(self, verb: str, path: str, headers: Headers, body: bytes, what: str) -> Response:
        try:
            return await self.channel.actor_request(verb, path, headers, body)
        except (HttpClientError, OSError, NotImplementedError) as exc:
            raise E.INVOKE_METHOD(f"{what}: the app could not be reached: {exc}") from exc

    async def invoke(self, request: InvokeRequest) -> InvokeResult:
        headers = Headers([(k, v) for k, v in request.metadata.items() if k.lower() not in HOP_BY_HOP])
        path = f"{actor_path(request.key)}/method/{request.method}"
        trace_context.inject_headers(headers)
        resp = await self._send("PUT", path, headers, request.data, "actor method")
        out_headers = {k: v for k, v in resp.headers.items() if k not in HOP_BY_HOP}
        return InvokeResult(
            data=resp.body,
            status=resp.status,
            content_type=resp.headers.get("content-type") or "",
            headers=out_headers,
        )

    async def reminder(self, key: ActorKey, fire: ReminderFire) -> None:
        body = msgspec.json.encode(
            {"dueTime": fire.due_time, "period": fire.period, "data": _json_or_null(fire.data)}
        )
        await self._callback(f"{actor_path(key)}/method/remind/{fire.name}", body, "reminder")

    async def timer(self, key: ActorKey, fire: TimerFire) -> None:
        body = msgspec.json.encode(
            {
                "callback": fire.callback,
                "data": _json_or_null(fire.data),
                "dueTime": fire.due_time,
                "period": fire.period,
            }
        )
        await self._callback(f"{actor_path(key)}/method/timer/{fire.name}", body, "timer")

    async def _callback(self, path: str, body: bytes, what: str) -> None:
        headers = Headers.from_lowercase([("content-type", "application/json")])
        resp = await self._send("PUT", path, headers, body, what)
        if resp.status != 200:
            raise E.INVOKE_METHOD(
                f"error from actor service: ({resp.status}) {resp.body.decode('utf-8', 'replace')}"
            )

    async def deactivate(self, key: ActorKey) -> None:
        resp = await self._send("DELETE", actor_path(key), Headers(), b"", "deactivation")
        if resp.status != 200:
            raise E.INVOKE_METHOD(
                f"error from actor service: ({resp.status}) {resp.body.decode('utf-8', 'replace')}"
            )
