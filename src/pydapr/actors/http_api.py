"""Dapr's actor HTTP routes (pkg/api/http/actors.go) over ``ActorsAPI``: wire work only.

``/v1.0/actors/{type}/{id}/method/{m}`` (GET, POST, PUT, DELETE) answers with the app's status,
headers and body; ``/state`` (POST/PUT) is a transaction, ``/state/{key}`` (GET) answers 204 when
absent; ``/reminders/{name}`` (POST/PUT/GET/DELETE) and ``/timers/{name}`` (POST/PUT/DELETE).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from pydapr import errors
from pydapr.api.http.jsonbody import BodyDecoder
from pydapr.api.http.router import Router
from pydapr.http.messages import Headers, Request, Response
from pydapr.invoke.block import method_from_path
from pydapr.invoke.headers import HOP_BY_HOP
from pydapr.resources.durations import parse_duration

from . import errors as E
from .contract import ActorKey, FailurePolicy, InvokeRequest, InvokeResult, Reminder, StateOperation
from .errors import ActorMethodError, check_name
from .turns import REENTRANCY_HEADER

if TYPE_CHECKING:
    from .api import ActorsAPI

BASE = "/v1.0/actors/{actorType}/{actorId}"
_NULL = msgspec.Raw(b"null")


class _OpRequest(msgspec.Struct, forbid_unknown_fields=True):
    key: str = ""
    value: msgspec.Raw = _NULL
    etag: str | None = None
    metadata: dict[str, str] | None = None


class _Operation(msgspec.Struct, forbid_unknown_fields=True):
    operation: str = ""
    request: _OpRequest | None = None


class _TimerBody(msgspec.Struct, forbid_unknown_fields=True):
    dueTime: str = ""
    period: str = ""
    ttl: str = ""
    callback: str = ""
    data: msgspec.Raw = _NULL


class _Constant(msgspec.Struct, forbid_unknown_fields=True):
    interval: str | None = None  # a protojson Duration ("1.5s") or a Go duration
    maxRetries: int | None = msgspec.field(default=None, name="maxRetries")
    max_retries: int | None = None


class _FailurePolicyBody(msgspec.Struct, forbid_unknown_fields=True):
    """Dapr's ``common.v1.JobFailurePolicy`` in protojson: ``{"drop": {}}`` or
    ``{"constant": {"interval": "1s", "maxRetries": 3}}``."""

    drop: dict[str, Any] | None = None
    constant: _Constant | None = None


class _ReminderBody(msgspec.Struct, forbid_unknown_fields=True):
    dueTime: str = ""
    period: str = ""
    ttl: str = ""
    data: msgspec.Raw = _NULL
    overwrite: bool = True
    failure_policy: _FailurePolicyBody | None = None


def _failure_policy(body: _FailurePolicyBody | None) -> FailurePolicy | None:
    if body is None:
        return None
    if body.drop is not None:
        return FailurePolicy(drop=True)
    if body.constant is None:
        raise errors.MALFORMED_REQUEST("failure_policy: neither drop nor constant is set")
    constant = body.constant
    interval = None
    if constant.interval is not None:
        try:
            interval = parse_duration(constant.interval)
        except ValueError as exc:
            raise errors.MALFORMED_REQUEST(f"failure_policy.constant.interval: {exc}") from None
    retries = constant.maxRetries if constant.maxRetries is not None else constant.max_retries
    return FailurePolicy(interval=interval, max_retries=retries)


_TRANSACTION: BodyDecoder[list[_Operation] | None] = BodyDecoder(list[_Operation] | None)
_TIMER: BodyDecoder[_TimerBody | None] = BodyDecoder(_TimerBody | None)
_REMINDER: BodyDecoder[_ReminderBody | None] = BodyDecoder(_ReminderBody | None)


def _decode(decoder: BodyDecoder[Any], body: bytes) -> Any:
    try:
        return decoder.decode(body or b"null")
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise errors.MALFORMED_REQUEST(exc) from None


def _raw(value: msgspec.Raw) -> bytes | None:
    data = bytes(value)
    return None if data in (b"", b"null") else data


def _key(params: dict[str, str]) -> ActorKey:
    return ActorKey(params["actorType"], params["actorId"])


def _result_response(result: InvokeResult) -> Response:
    headers = Headers.from_lowercase(
        [
            (k.lower(), v)
            for k, v in result.headers.items()
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-type"
        ]
    )
    if result.content_type:
        headers.set("content-type", result.content_type)
    return Response(result.status, headers, result.data)


def register(router: Router, api: ActorsAPI) -> None:
    async def invoke(req: Request, params: dict[str, str]) -> Response:
        key = _key(params)
        check_name("actorType", key.actor_type)
        check_name("actorId", key.actor_id)
        method = method_from_path(params["method"])
        if not method or method.startswith(".."):
            raise E.BAD_REQUEST(f"invalid method name: {params['method']!r}")
        metadata: dict[str, str] = {}
        for name, value in req.headers.items():
            lowered = name.lower()
            if lowered in HOP_BY_HOP or lowered == "dapr-app-id":
                continue
            metadata[REENTRANCY_HEADER if lowered == REENTRANCY_HEADER.lower() else lowered] = value
        try:
            result = await api.invoke(InvokeRequest(key, method, req.body, metadata))
        except ActorMethodError as err:
            return _result_response(err.result)
        return _result_response(result)

    async def get_state(req: Request, params: dict[str, str]) -> Response:
        found = await api.get_state(_key(params), params["key"])
        if found is None:
            return Response.empty(204)
        data, metadata = found
        headers = [("content-type", "application/json")]
        headers += [("metadata." + k.lower(), v) for k, v in metadata.items()]
        return Response(200, Headers.from_lowercase(headers), data)

    async def transaction(req: Request, params: dict[str, str]) -> Response:
        ops = _decode(_TRANSACTION, req.body) or []
        operations = []
        for op in ops:
            if op.request is None:
                raise E.STATE_TRANSACTION("request data is empty")
            operations.append(
                StateOperation(
                    op.operation,
                    op.request.key,
                    bytes(op.request.value) if op.operation == "upsert" else None,
                    dict(op.request.metadata or {}),
                    op.request.etag,
                )
            )
        await api.transaction(_key(params), operations)
        return Response.empty(204)

    async def create_timer(req: Request, params: dict[str, str]) -> Response:
        body = _decode(_TIMER, req.body) or _TimerBody()
        await api.register_timer(
            _key(params),
            params["name"],
            due_time=body.dueTime,
            period=body.period,
            ttl=body.ttl,
            callback=body.callback,
            data=_raw(body.data),
        )
        return Response.empty(204)

    async def delete_timer(req: Request, params: dict[str, str]) -> Response:
        await api.unregister_timer(_key(params), params["name"])
        return Response.empty(204)

    async def create_reminder(req: Request, params: dict[str, str]) -> Response:
        body = _decode(_REMINDER, req.body) or _ReminderBody()
        await api.register_reminder(
            Reminder(
                _key(params),
                params["name"],
                body.dueTime,
                body.period,
                body.ttl,
                _raw(body.data),
                overwrite=body.overwrite,
                failure_policy=_failure_policy(body.failure_policy),
            )
        )
        return Response.empty(204)

    async def get_reminder(req: Request, params: dict[str, str]) -> Response:
        key = _key(params)
        found = await api.get_reminder(key, params["name"])
        if found is None:
            raise E.REMINDER_NOT_FOUND(params["name"])
        doc: dict[str, Any] = {"actorID": key.actor_id, "actorType": key.actor_type}
        if found.data:
            doc["data"] = msgspec.Raw(found.data)
        for field, value in (("dueTime", found.due_time), ("period", found.period), ("ttl", found.ttl)):
            if value:
                doc[field] = value
        return Response.json(msgspec.json.encode(doc))

    async def delete_reminder(req: Request, params: dict[str, str]) -> Response:
        await api.unregister_reminder(_key(params), params["name"])
        return Response.empty(204)

    router.add(("GET", "POST", "PUT", "DELETE"), BASE + "/method/{method}", invoke)
    router.add(("POST", "PUT"), BASE + "/state", transaction)
    router.add("GET", BASE + "/state/{key}", get_state)
    router.add(("POST", "PUT"), BASE + "/reminders/{name}", create_reminder)
    router.add("GET", BASE + "/reminders/{name}", get_reminder)
    router.add("DELETE", BASE + "/reminders/{name}", delete_reminder)
    router.add(("POST", "PUT"), BASE + "/timers/{name}", create_timer)
    router.add("DELETE", BASE + "/timers/{name}", delete_timer)
