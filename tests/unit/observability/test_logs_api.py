"""The API log (``ApiLoggingSource``) as daprd writes it: one ``HTTP API Called`` / ``gRPC API Called``
line per call with daprd's fields, health probes left out with ``omitHealthChecks``, daprd's endpoint
names with ``obfuscateURLs``, one line at the end of a gRPC stream, none for a ``spec.api`` refusal,
and the caller's trace id. Lines are read as the sidecar writes them (``DaprFormatter``, JSON)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest

from pydapr import errors
from pydapr.api.api_logging import ApiLoggingSource, http_endpoint_name
from pydapr.api.grpc.inbound import Refused
from pydapr.api.grpc.status import http_code_status
from pydapr.api.http.inbound import pipeline_middleware
from pydapr.http.messages import Headers, Request, Response
from pydapr.observability.logs import DaprFormatter
from pydapr.observability.trace_context import current_traceparent
from pydapr.pipeline import Call, Direction, Pipeline

GET_STATE = "/dapr.proto.runtime.v1.Dapr/GetState"
SUBSCRIBE = "/dapr.proto.runtime.v1.Dapr/SubscribeTopicEventsAlpha1"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
VOLATILE = ("time", "instance", "ver")


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(DaprFormatter("orders", as_json=True))
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = json.loads(self.format(record))
        for key in VOLATILE:
            line.pop(key)
        self.lines.append(line)


@pytest.fixture
def lines() -> Iterator[list[dict[str, Any]]]:
    """The API lines, with the root logger at warning (daprd's API loggers write at info anyway)."""
    handler = _Lines()
    root = logging.getLogger()
    level, root.level = root.level, logging.WARNING
    root.addHandler(handler)
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _http(source: ApiLoggingSource, requests: list[tuple[Request, str, Any]]) -> None:
    """Each request through the pipeline step, answered by a handler that matched ``route``."""
    middleware = pipeline_middleware(Pipeline([source]))

    async def main() -> None:
        for req, route, outcome in requests:

            async def handler(r: Request, route: str = route, outcome: Any = outcome) -> Response:
                r.route = route
                if isinstance(outcome, BaseException):
                    raise outcome
                return outcome  # type: ignore[no-any-return]

            with contextlib.suppress(Exception):  # the server turns it into the answer
                await middleware(req, handler)

    asyncio.run(main())


def test_http_line_has_daprds_fields(lines: list[dict[str, Any]]) -> None:
    source = ApiLoggingSource(omit_health_checks=False)
    _http(
        source,
        [
            (
                Request("GET", "/v1.0/state/store/a%20b", "x=1", Headers()),
                "/v1.0/state/{storeName}/{key}",
                Response(200, body=b'"v"'),
            ),
        ],
    )
    assert lines == [
        {
            "app_id": "orders",
            "code": 200,
            "duration": 0,
            "level": "info",
            "method": "GET /v1.0/state/store/a b",  # Go's decoded URL.Path, without the query
            "msg": "HTTP API Called",
            "scope": "dapr.runtime.http-info",
            "size": 3,
            "type": "log",
        }
    ]


def test_http_errors_log_their_status_and_body_size(lines: list[dict[str, Any]]) -> None:
    missing = errors.METADATA_KEY_INVALID("k")
    _http(
        ApiLoggingSource(omit_health_checks=False),
        [
            (Request("PUT", "/v1.0/metadata/k"), "/v1.0/metadata/{key}", missing),
            (Request("GET", "/v1.0/metadata"), "/v1.0/metadata", RuntimeError("bug")),
        ],
    )
    assert [(x["code"], x["size"]) for x in lines] == [
        (missing.http_status, len(missing.http_body())),
        (500, len(errors.INTERNAL("RuntimeError").http_body())),  # what the server answers
    ]


def test_health_checks_are_left_out_with_omit_health_checks(lines: list[dict[str, Any]]) -> None:
    probes = [
        (Request("GET", "/v1.0/healthz"), "/v1.0/healthz", Response(204)),
        (Request("GET", "/v1.0/healthz/outbound"), "/v1.0/healthz/outbound", Response(204)),
        (Request("GET", "/v1.0/metadata"), "/v1.0/metadata", Response(200, body=b"{}")),
    ]
    _http(ApiLoggingSource(omit_health_checks=True), probes)
    assert [x["method"] for x in lines] == ["GET /v1.0/metadata"]
    lines.clear()
    _http(ApiLoggingSource(omit_health_checks=False), probes)
    assert [x["method"] for x in lines] == [
        "GET /v1.0/healthz",
        "GET /v1.0/healthz/outbound",
        "GET /v1.0/metadata",
    ]


def test_obfuscated_http_lines_name_the_endpoint(lines: list[dict[str, Any]]) -> None:
    _http(
        ApiLoggingSource(omit_health_checks=False, obfuscate_urls=True),
        [(Request("GET", "/v1.0/state/store/secret-key"), "/v1.0/state/{storeName}/{key}", Response(204))],
    )
    assert [x["method"] for x in lines] == ["GetState"]


@pytest.mark.parametrize(
    ("operation", "route", "name"),
    [
        ("GET /v1.0/state/s/k", "/v1.0/state/{storeName}/{key}", "GetState"),
        ("DELETE /v1.0/state/s/k", "/v1.0/state/{storeName}/{key}", "DeleteState"),
        ("POST /v1.0/state/s", "/v1.0/state/{storeName}", "SaveState"),
        ("PUT /v1.0/state/s/bulk", "/v1.0/state/{storeName}/bulk", "GetBulkState"),
        ("POST /v1.0-alpha1/state/s/query", "/v1.0-alpha1/state/{storeName}/query", "QueryStateAlpha1"),
        ("POST /v1.0/publish/p/a/b", "/v1.0/publish/{pubsubname}/{topic:*}", "PublishEvent"),
        ("GET /v1.0/healthz/outbound", "/v1.0/healthz/outbound", "HealthzOutbound"),
        ("DELETE /v1.0-alpha1/jobs/j", "/v1.0-alpha1/jobs/{name}", "DeleteJob"),
        (
            "POST /v1.0-beta1/workflows/dapr/w/start",
            "/v1.0-beta1/workflows/{workflowComponent}/{target}/start",
            "StartWorkflow",
        ),
        ("POST /v1.0/invoke/order%2Dsvc/method/new/1", "/v1.0/invoke/{rest:*}", "InvokeService/order-svc"),
        ("POST /orders/new", "", "InvokeService"),  # the dapr-app-id fallback, daprd's NotFound handler
        (
            "PUT /v1.0/actors/Cart/c1/method/add",
            "/v1.0/actors/{actorType}/{actorId}/method/{method}",
            "InvokeActor/Cart.c1",
        ),
        (
            "DELETE /v1.0/actors/Cart/c1/timers/t",
            "/v1.0/actors/{actorType}/{actorId}/timers/{name}",
            "UnregisterActorTimer",
        ),
        (
            "PUT /v1.0/actors/Cart/c1/reminders/r",
            "/v1.0/actors/{actorType}/{actorId}/reminders/{name}",
            "RegisterActorReminder",
        ),
        (
            "GET /v1.0-alpha1/pydapr/state/s/keys",
            "/v1.0-alpha1/pydapr/state/{storeName}/keys",
            "/v1.0-alpha1/pydapr/state/{storeName}/keys",
        ),
    ],
)
def test_endpoint_names_are_daprds(operation: str, route: str, name: str) -> None:
    call = Call(Direction.INBOUND_HTTP, "x", operation, route=route)
    assert http_endpoint_name(call) == name


def test_a_line_carries_the_callers_trace_id(lines: list[dict[str, Any]]) -> None:
    source = ApiLoggingSource(omit_health_checks=False)
    headers = Headers.from_lowercase([("traceparent", TRACEPARENT)])
    _http(source, [(Request("GET", "/v1.0/metadata", "", headers), "/v1.0/metadata", Response(200))])
    assert lines[-1]["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    # Inside a traced call (tracing set the context), the call's current trace is the one written.
    token = current_traceparent.set("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    try:
        _http(source, [(Request("GET", "/v1.0/metadata", "", headers), "/v1.0/metadata", Response(200))])
    finally:
        current_traceparent.reset(token)
    assert lines[-1]["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"


def _grpc(source: ApiLoggingSource, method: str, behaviour: Any, status_on_failure: str = "") -> Any:
    """One gRPC call through the source's chain, as the inbound interceptor runs it."""
    chain = Pipeline([source]).chain(Direction.INBOUND_GRPC, method)
    call = Call(Direction.INBOUND_GRPC, method, method)

    async def proceed() -> Any:
        try:
            return await behaviour()
        except Exception:
            call.status = status_on_failure
            raise

    async def main() -> Any:
        result = await chain.run(call, proceed)
        if hasattr(result, "__aiter__"):
            return [item async for item in result]
        return result

    return asyncio.run(main())


def test_grpc_line_has_daprds_fields(lines: list[dict[str, Any]]) -> None:
    source = ApiLoggingSource(omit_health_checks=False)

    async def ok() -> str:
        return "value"

    async def missing() -> str:
        raise RuntimeError("not found")

    assert _grpc(source, GET_STATE, ok) == "value"
    with pytest.raises(RuntimeError):
        _grpc(source, GET_STATE, missing, status_on_failure="INVALID_ARGUMENT")
    assert lines == [
        {
            "app_id": "orders",
            "code": 0,
            "duration": 0,
            "level": "info",
            "method": GET_STATE,
            "msg": "gRPC API Called",
            "scope": "dapr.runtime.grpc.api-info",
            "type": "log",
        },
        {
            "app_id": "orders",
            "code": grpc.StatusCode.INVALID_ARGUMENT.value[0],
            "duration": 0,
            "level": "info",
            "method": GET_STATE,
            "msg": "gRPC API Called",
            "scope": "dapr.runtime.grpc.api-info",
            "type": "log",
        },
    ]


def test_a_stream_is_logged_once_when_it_ends(lines: list[dict[str, Any]]) -> None:
    source = ApiLoggingSource(omit_health_checks=False)
    seen_before_end: list[int] = []

    async def events() -> AsyncIterator[int]:
        for i in range(3):
            seen_before_end.append(len(lines))
            yield i
            await asyncio.sleep(0.005)

    async def open_stream() -> AsyncIterator[int]:
        return events()

    assert _grpc(source, SUBSCRIBE, open_stream) == [0, 1, 2]
    assert seen_before_end == [0, 0, 0]  # nothing while the stream was open
    assert len(lines) == 1 and lines[0]["method"] == SUBSCRIBE and lines[0]["code"] == 0
    assert lines[0]["duration"] >= 10  # the whole stream, not its opening


def test_a_streams_line_carries_the_trace_of_its_opening(lines: list[dict[str, Any]]) -> None:
    """Tracing sets the call's context while the stream opens; its messages and its end come after."""
    chain = Pipeline([ApiLoggingSource(omit_health_checks=False)]).chain(Direction.INBOUND_GRPC, SUBSCRIBE)

    async def events() -> AsyncIterator[int]:
        yield 1

    async def open_stream() -> AsyncIterator[int]:
        return events()

    async def main() -> None:
        token = current_traceparent.set("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        try:
            stream = await chain.run(Call(Direction.INBOUND_GRPC, SUBSCRIBE, SUBSCRIBE), open_stream)
        finally:
            current_traceparent.reset(token)
        assert [item async for item in stream] == [1]

    asyncio.run(main())
    assert [x.get("trace_id") for x in lines] == ["4bf92f3577b34da6a3ce929d0e0e4736"]


def test_a_stream_cancelled_by_its_client_is_logged_as_cancelled(lines: list[dict[str, Any]]) -> None:
    source = ApiLoggingSource(omit_health_checks=False)
    chain = Pipeline([source]).chain(Direction.INBOUND_GRPC, SUBSCRIBE)

    async def events() -> AsyncIterator[int]:
        yield 1
        await asyncio.sleep(10)
        yield 2

    async def main() -> None:
        async def open_stream() -> AsyncIterator[int]:
            return events()

        stream = await chain.run(Call(Direction.INBOUND_GRPC, SUBSCRIBE, SUBSCRIBE), open_stream)

        async def consume() -> None:
            async for _ in stream:
                pass

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert [x["code"] for x in lines] == [grpc.StatusCode.CANCELLED.value[0]]


def test_a_failed_stream_is_logged_with_the_status_the_transport_recorded(
    lines: list[dict[str, Any]],
) -> None:
    chain = Pipeline([ApiLoggingSource(omit_health_checks=False)]).chain(Direction.INBOUND_GRPC, SUBSCRIBE)
    call = Call(Direction.INBOUND_GRPC, SUBSCRIBE, SUBSCRIBE)

    async def events() -> AsyncIterator[int]:
        yield 1
        call.status = "FAILED_PRECONDITION"  # what the transport sets as the stream ends with it
        raise RuntimeError("aborted")

    async def open_stream() -> AsyncIterator[int]:
        return events()

    async def main() -> None:
        stream = await chain.run(call, open_stream)
        with pytest.raises(RuntimeError):
            async for _ in stream:
                pass

    asyncio.run(main())
    assert [x["code"] for x in lines] == [grpc.StatusCode.FAILED_PRECONDITION.value[0]]
    lines.clear()
    call.status = ""

    async def unrecorded() -> AsyncIterator[int]:
        raise RuntimeError("aborted")
        yield 1

    async def open_unrecorded() -> AsyncIterator[int]:
        return unrecorded()

    async def again() -> None:
        stream = await chain.run(call, open_unrecorded)
        with pytest.raises(RuntimeError):
            async for _ in stream:
                pass

    asyncio.run(again())
    assert [x["code"] for x in lines] == [grpc.StatusCode.UNKNOWN.value[0]]  # nothing recorded


def test_no_line_for_a_call_spec_api_refuses(lines: list[dict[str, Any]]) -> None:
    async def refused() -> Any:
        raise Refused(http_code_status(501, "requested endpoint is not available"))

    with pytest.raises(Refused):
        _grpc(ApiLoggingSource(omit_health_checks=False), GET_STATE, refused)
    assert lines == []


def test_only_the_public_apis_are_logged() -> None:
    source = ApiLoggingSource(omit_health_checks=False)
    for direction in Direction:
        if direction not in (Direction.INBOUND_HTTP, Direction.INBOUND_GRPC):
            assert source.interceptor(direction, "x") is None
