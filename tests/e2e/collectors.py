"""Trace collectors the tests run: real servers speaking the wire formats sidecars export to.

- ``ZipkinCollector``: HTTP, ``POST /api/v2/spans`` with Zipkin's JSON v2 (what ``dapr init``'s
  Zipkin receives), ``GET /api/v2/traces`` as a small part of Zipkin's query API.
- ``OtlpCollector``: OTLP over gRPC (opentelemetry.proto.collector.trace.v1.TraceService/Export)
  and OTLP/HTTP protobuf (``POST /v1/traces``), both decoded into the same ``Span`` records.

Both keep what they received in memory, threads only (the tests are synchronous); ``drop=True``
accepts and discards, the sink for benchmarks.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.e2e.harness import free_port


@dataclass
class Span:
    """One received span, in one shape whatever the wire format (ids in lowercase hex)."""

    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: str  # CLIENT, SERVER, PRODUCER, CONSUMER, INTERNAL (Zipkin: "" for a local span)
    service: str
    attributes: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # what the exporter sent with it


class _Store:
    def __init__(self, drop: bool) -> None:
        self.drop = drop
        self._spans: list[Span] = []
        self._lock = threading.Lock()
        self.batches = 0

    def add(self, spans: list[Span]) -> None:
        with self._lock:
            self.batches += 1
            if not self.drop:
                self._spans.extend(spans)

    @property
    def spans(self) -> list[Span]:
        with self._lock:
            return list(self._spans)

    def wait_for(self, predicate: Callable[[list[Span]], bool], timeout: float = 20.0) -> list[Span]:
        """The spans once ``predicate`` holds for them; AssertionError with what came otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.spans
            if predicate(spans):
                return spans
            if time.monotonic() > deadline:
                listing = "\n".join(
                    f"  {s.service} {s.kind} {s.name} {s.trace_id}/{s.span_id}<-{s.parent_id}" for s in spans
                )
                raise AssertionError(f"spans never matched in {timeout}s; received:\n{listing}")
            time.sleep(0.1)

    def named(self, name: str) -> list[Span]:
        return [s for s in self.spans if s.name == name]


def _http_server(
    handle: Callable[[BaseHTTPRequestHandler, bytes], tuple[int, bytes, str]],
) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            if (self.headers.get("content-encoding") or "").lower() == "gzip":
                body = gzip.decompress(body)
            self._answer(*handle(self, body))

        def do_GET(self) -> None:
            self._answer(*handle(self, b""))

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)


class ZipkinCollector(_Store):
    def __init__(self, drop: bool = False) -> None:
        super().__init__(drop)
        self.server = _http_server(self._handle)
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}/api/v2/spans"

    def _handle(self, req: BaseHTTPRequestHandler, body: bytes) -> tuple[int, bytes, str]:
        path = req.path.split("?", 1)[0]
        if req.command == "POST" and path == "/api/v2/spans":
            try:
                decoded = json.loads(body)
            except ValueError:
                return 400, b"not JSON", "text/plain"
            if not isinstance(decoded, list):
                return 400, b"not a list of spans", "text/plain"
            self.add([_from_zipkin(s, dict(req.headers.items())) for s in decoded])
            return 202, b"", "text/plain"
        if req.command == "GET" and path == "/api/v2/traces":
            traces: dict[str, list[dict[str, Any]]] = {}
            for s in self.spans:
                traces.setdefault(s.trace_id, []).append(
                    {"traceId": s.trace_id, "id": s.span_id, "name": s.name}
                )
            return 200, json.dumps(list(traces.values())).encode(), "application/json"
        return 404, b"", "text/plain"


def _from_zipkin(raw: dict[str, Any], headers: dict[str, str]) -> Span:
    return Span(
        trace_id=str(raw.get("traceId", "")).rjust(32, "0"),
        span_id=str(raw.get("id", "")),
        parent_id=str(raw.get("parentId", "")),
        name=str(raw.get("name", "")),
        kind=str(raw.get("kind", "")),
        service=str((raw.get("localEndpoint") or {}).get("serviceName", "")),
        attributes={str(k): str(v) for k, v in (raw.get("tags") or {}).items()},
        headers={k.lower(): v for k, v in headers.items()},
    )


_OTLP_KINDS = {0: "", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}


def _from_otlp(request: Any, headers: dict[str, str]) -> list[Span]:
    out: list[Span] = []
    for resource_spans in request.resource_spans:
        service = ""
        for attr in resource_spans.resource.attributes:
            if attr.key == "service.name":
                service = attr.value.string_value
        for scope in resource_spans.scope_spans:
            for s in scope.spans:
                out.append(
                    Span(
                        trace_id=s.trace_id.hex(),
                        span_id=s.span_id.hex(),
                        parent_id=s.parent_span_id.hex(),
                        name=s.name,
                        kind=_OTLP_KINDS.get(s.kind, str(s.kind)),
                        service=service,
                        attributes={a.key: a.value.string_value for a in s.attributes},
                        headers=headers,
                    )
                )
    return out


class OtlpCollector(_Store):
    """OTLP/gRPC on ``grpc_port``, OTLP/HTTP protobuf on ``http_port``."""

    def __init__(self, drop: bool = False) -> None:
        super().__init__(drop)
        import grpc
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

        store = self

        class TraceService(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
            def Export(self, request: Any, context: Any) -> Any:
                headers = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
                store.add(_from_otlp(request, headers))
                return trace_service_pb2.ExportTraceServiceResponse()

        self._request_type = trace_service_pb2.ExportTraceServiceRequest
        self.grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(), self.grpc_server)  # type: ignore[no-untyped-call]
        self.grpc_port = self.grpc_server.add_insecure_port("127.0.0.1:0")
        self.server = _http_server(self._handle)
        self.http_port = self.server.server_address[1]

    def _handle(self, req: BaseHTTPRequestHandler, body: bytes) -> tuple[int, bytes, str]:
        if req.command != "POST" or req.path != "/v1/traces":
            return 404, b"", "text/plain"
        request = self._request_type()
        try:
            request.ParseFromString(body)
        except Exception:
            return 400, b"not an ExportTraceServiceRequest", "text/plain"
        self.add(_from_otlp(request, {k.lower(): v for k, v in req.headers.items()}))
        return 200, b"", "application/x-protobuf"


@contextmanager
def running(collector: ZipkinCollector | OtlpCollector) -> Iterator[Any]:
    """Serve ``collector`` for the block's duration (threads stopped and ports closed after)."""
    thread = threading.Thread(target=collector.server.serve_forever, daemon=True)
    thread.start()
    grpc_server = getattr(collector, "grpc_server", None)
    if grpc_server is not None:
        grpc_server.start()
    try:
        yield collector
    finally:
        if grpc_server is not None:
            grpc_server.stop(0)
        collector.server.shutdown()
        collector.server.server_close()
        thread.join(5)
