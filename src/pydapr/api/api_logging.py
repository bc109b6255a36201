"""API logging (``--enable-api-logging`` / ``spec.logging.apiLogging``): one pipeline source for both APIs.

Each call to the public HTTP or gRPC API that reaches the pipeline gets one info line when it ends,
as daprd writes it (pkg/api/http/server.go ``useAPILogging``, pkg/api/grpc/server.go
``printAPILog``)::

    msg="HTTP API Called" code=200 duration=0 method="GET /v1.0/state/s/k" scope=dapr.runtime.http-info
        size=3 useragent=...
    msg="gRPC API Called" code=0 duration=1 method=/dapr.proto.runtime.v1.Dapr/GetState
        scope=dapr.runtime.grpc.api-info useragent=...

``duration`` is whole milliseconds (Go's ``Milliseconds()``), ``code`` the HTTP status or the gRPC
code number, ``size`` the HTTP response body's bytes. With ``obfuscateURLs`` an HTTP line's method is
daprd's endpoint name (``GetState``, ``InvokeService/<app id>``, ``InvokeActor/<type>.<id>``) instead
of the path, which can hold keys and ids; gRPC lines always name the method. Calls refused before the
pipeline (API token) or by ``spec.api`` on gRPC are not logged, as daprd's interceptors refuse them
before its logging one. A gRPC stream's line is written when the stream ends.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any
from urllib.parse import unquote

from pydapr import errors, rpc
from pydapr.api.grpc.inbound import Refused
from pydapr.http.messages import Response
from pydapr.observability.logs import TRACE_ID, fields
from pydapr.observability.trace_context import trace_id
from pydapr.pipeline import Call, Direction, Interceptor, Operation

# daprd's loggers, so the scopes are daprd's (dapr.runtime.http-info, dapr.runtime.grpc.api-info).
http_log = logging.getLogger("pydapr.runtime.http-info")
grpc_log = logging.getLogger("pydapr.runtime.grpc.api-info")

HTTP_MESSAGE = "HTTP API Called"
GRPC_MESSAGE = "gRPC API Called"
# /v1.0/healthz and /v1.0/healthz/outbound, daprd's IsHealthCheck endpoints. The gRPC API has no
# health method (daprd's neither), so omitHealthChecks leaves every gRPC line in.
HTTP_HEALTH_GROUP = "healthz"

_GRPC_CODES = {code.name: int(code.value[0]) for code in rpc.StatusCode}


class ApiLoggingSource:
    def __init__(self, *, omit_health_checks: bool, obfuscate_urls: bool = False) -> None:
        self.omit_health_checks = omit_health_checks
        self.obfuscate_urls = obfuscate_urls
        # daprd's API loggers write at info whatever --log-level says (NewServer sets their level).
        http_log.setLevel(logging.INFO)
        grpc_log.setLevel(logging.INFO)

    def interceptor(self, direction: Direction, target: str) -> Interceptor | None:
        if direction is Direction.INBOUND_HTTP:
            if self.omit_health_checks and target == HTTP_HEALTH_GROUP:
                return None
            return self._log_http
        if direction is Direction.INBOUND_GRPC:
            return _log_grpc
        return None

    async def _log_http(self, call: Call, proceed: Operation[Any]) -> Any:
        started = time.perf_counter()
        size = 0
        try:
            resp = await proceed()
        except errors.DaprError as err:
            size = len(err.http_body())
            raise
        except asyncio.CancelledError:
            size = len(errors.INTERNAL("request handling was cancelled").http_body())
            raise
        except BaseException as exc:
            # The server answers anything else as ERR_INTERNAL naming the exception's type.
            size = len(errors.INTERNAL(type(exc).__name__).http_body())
            raise
        else:
            if isinstance(resp, Response):
                size = len(resp.body)
            return resp
        finally:
            method = http_endpoint_name(call) if self.obfuscate_urls else _decoded(call.operation)
            values: dict[str, Any] = {
                "method": method,
                "code": _http_code(call.status),
                "size": size,
                "duration": _milliseconds(started),
            }
            _write(http_log, HTTP_MESSAGE, call, values, _call_trace(call))


async def _log_grpc(call: Call, proceed: Operation[Any]) -> Any:
    started = time.perf_counter()
    # Taken now: a stream's messages (and its line) come after tracing has left the call's context.
    trace = _call_trace(call)
    try:
        result = await proceed()
    except Refused:
        raise  # spec.api refusals come before daprd's logging interceptor: no line
    except BaseException as exc:
        _write_grpc(call, started, trace, exc)
        raise
    if inspect.isasyncgen(result):
        return _logged_stream(result, call, started, trace)
    if inspect.iscoroutine(result):
        return _logged_writer(result, call, started, trace)
    _write_grpc(call, started, trace, None)
    return result


async def _logged_stream(
    stream: AsyncIterator[Any], call: Call, started: float, trace: str
) -> AsyncIterator[Any]:
    failure: BaseException | None = None
    try:
        async for item in stream:
            yield item
    except BaseException as exc:
        failure = exc
        raise
    finally:
        _write_grpc(call, started, trace, failure)


async def _logged_writer(writer: Coroutine[Any, Any, Any], call: Call, started: float, trace: str) -> Any:
    """A streaming behaviour that writes with ``context.write()``: logged once it returns."""
    failure: BaseException | None = None
    try:
        return await writer
    except BaseException as exc:
        failure = exc
        raise
    finally:
        _write_grpc(call, started, trace, failure)


def _write_grpc(call: Call, started: float, trace: str, failure: BaseException | None) -> None:
    values: dict[str, Any] = {
        "method": call.operation,
        "code": _grpc_code(call.status, failure),
        "duration": _milliseconds(started),
    }
    _write(grpc_log, GRPC_MESSAGE, call, values, trace)


def _write(log: logging.Logger, message: str, call: Call, values: dict[str, Any], trace: str) -> None:
    user_agent = call.user_agent
    if user_agent:
        values["useragent"] = user_agent
    if trace:
        values[TRACE_ID] = trace
    log.info(message, extra=fields(**values))


def _call_trace(call: Call) -> str:
    """The trace id tracing set for the call, else the caller's own (tracing off: the line still
    belongs to the caller's trace)."""
    return trace_id() or trace_id(call.trace)


def _milliseconds(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _http_code(status: str) -> int:
    """``Call.status`` of an HTTP call is ``"200"`` or ``"404 ERR_..."``; unset only if cancelled (500)."""
    head = status.split(" ", 1)[0]
    return int(head) if head.isdigit() else 500


def _grpc_code(status: str, failure: BaseException | None) -> int:
    if status in _GRPC_CODES:
        return _GRPC_CODES[status]
    if failure is None:
        return 0
    if isinstance(failure, asyncio.CancelledError | GeneratorExit):
        return _GRPC_CODES["CANCELLED"]
    return _GRPC_CODES["UNKNOWN"]


def _decoded(operation: str) -> str:
    """``GET /v1.0/state/s/a%20b`` → ``GET /v1.0/state/s/a b``: daprd logs Go's decoded ``URL.Path``."""
    return unquote(operation, errors="replace") if "%" in operation else operation


# daprd's endpoint names (pkg/api/http/*.go, Settings.Name), by the route after its version
# (``/v1.0-alpha1/`` ...) and, where the route has several, the verb.
_ENDPOINT_NAMES: dict[str, str | dict[str, str]] = {
    "healthz": "Healthz",
    "healthz/outbound": "HealthzOutbound",
    "metadata": "GetMetadata",
    "metadata/{key}": "PutMetadata",
    "shutdown": "Shutdown",
    "state/{storeName}": "SaveState",
    "state/{storeName}/{key}": {"GET": "GetState", "DELETE": "DeleteState"},
    # daprd has no GET/DELETE on these: there they are the key "bulk" / "transaction".
    "state/{storeName}/bulk": {"GET": "GetState", "DELETE": "DeleteState", "*": "GetBulkState"},
    "state/{storeName}/transaction": {
        "GET": "GetState",
        "DELETE": "DeleteState",
        "*": "ExecuteStateTransaction",
    },
    "state/{storeName}/query": "QueryStateAlpha1",
    "publish/{pubsubname}/{topic:*}": "PublishEvent",
    "publish/bulk/{pubsubname}/{topic:*}": "BulkPublishEvent",
    "bindings/{name}": "InvokeBinding",
    "secrets/{secretStoreName}/{key}": "GetSecret",
    "secrets/{secretStoreName}/bulk": "GetBulkSecret",
    "configuration/{storeName}": "GetConfiguration",
    "configuration/{storeName}/subscribe": "SubscribeConfiguration",
    "configuration/{storeName}/{subscribeId}/unsubscribe": "UnsubscribeConfiguration",
    "lock/{storeName}": "TryLock",
    "unlock/{storeName}": "Unlock",
    "jobs/{name}": {"POST": "ScheduleJob", "GET": "GetJob", "DELETE": "DeleteJob"},
    "conversation/{name}/converse": "Converse",
    "crypto/{name}/encrypt": "Encrypt",
    "crypto/{name}/decrypt": "Decrypt",
    "subtlecrypto/{name}/getkey": "SubtleGetKey",
    "subtlecrypto/{name}/encrypt": "SubtleEncrypt",
    "subtlecrypto/{name}/decrypt": "SubtleDecrypt",
    "subtlecrypto/{name}/wrapkey": "SubtleWrapKey",
    "subtlecrypto/{name}/unwrapkey": "SubtleUnwrapKey",
    "subtlecrypto/{name}/sign": "SubtleSign",
    "subtlecrypto/{name}/verify": "SubtleVerify",
    "workflows/{workflowComponent}/{target}": "GetWorkflow",
    "workflows/{workflowComponent}/{target}/start": "StartWorkflow",
    "workflows/{workflowComponent}/{target}/raiseEvent/{eventName}": "RaiseEventWorkflow",
    "workflows/{workflowComponent}/{target}/pause": "PauseWorkflow",
    "workflows/{workflowComponent}/{target}/resume": "ResumeWorkflow",
    "workflows/{workflowComponent}/{target}/terminate": "TerminateWorkflow",
    "workflows/{workflowComponent}/{target}/purge": "PurgeWorkflow",
    "actors/{actorType}/{actorId}/state": "ExecuteActorStateTransaction",
    "actors/{actorType}/{actorId}/state/{key}": "GetActorState",
    "actors/{actorType}/{actorId}/reminders/{name}": {
        "GET": "GetActorReminder",
        "DELETE": "UnregisterActorReminder",
        "*": "RegisterActorReminder",
    },
    "actors/{actorType}/{actorId}/timers/{name}": {
        "DELETE": "UnregisterActorTimer",
        "*": "RegisterActorTimer",
    },
}
_INVOKE_ROUTE = "invoke/{rest:*}"
_ACTOR_METHOD_ROUTE = "actors/{actorType}/{actorId}/method/{method}"


def http_endpoint_name(call: Call) -> str:
    """What daprd logs for an HTTP call with ``obfuscateURLs``: its endpoint's name, not its path.

    A path no route matched goes to service invocation's fallback (the ``dapr-app-id`` header), as
    in daprd, whose router's NotFound handler it is. The invoke and actor-method endpoints add their
    target as daprd's do (``InvokeService/<app id>``; ``InvokeActor/<type>.<id>``, daprd's default
    while ``spec.metric.http.increasedCardinality`` is unset). A route daprd has not is logged as its
    pattern, which holds no value either.
    """
    verb, _, path = call.operation.partition(" ")
    route = call.route
    if not route:
        return "InvokeService"
    version_end = route.find("/", 1)
    unversioned = route[version_end + 1 :] if version_end > 0 else route.lstrip("/")
    if unversioned == _INVOKE_ROUTE:
        app_id = _segment(path, 3)
        return f"InvokeService/{app_id}" if app_id else "InvokeService"
    if unversioned == _ACTOR_METHOD_ROUTE:
        return f"InvokeActor/{_segment(path, 3)}.{_segment(path, 4)}"
    named = _ENDPOINT_NAMES.get(unversioned)
    if named is None:
        return route
    if isinstance(named, str):
        return named
    return named.get(verb) or named.get("*") or route


def _segment(path: str, index: int) -> str:
    """The ``index``-th segment of ``path`` (``/v1.0/invoke/app/...``: 0 is "", 1 ``v1.0``), decoded."""
    parts = path.split("/")
    return unquote(parts[index], errors="replace") if len(parts) > index else ""
