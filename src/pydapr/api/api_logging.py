"""API logging (``--enable-api-logging`` / ``logging.apiLogging``) as one source for both APIs.

Each call to the public HTTP or gRPC API gets one info line with its outcome and duration, health
probes too unless ``omitHealthChecks``. The formats are pydapr's (daprd writes structured fields):

    HTTP API called: GET /v1.0/metadata -> 200 (0.41 ms)
    HTTP API called: GET /v1.0/state/nostore/k -> 400 ERR_STATE_STORE_NOT_FOUND (0.20 ms)
    gRPC API called: /dapr.proto.runtime.v1.Dapr/GetState -> OK (0.52 ms)
"""

from __future__ import annotations

import logging
import time
from typing import Any

from pydapr.pipeline import Call, Direction, Interceptor, Operation

log = logging.getLogger("pydapr.api")

HTTP_HEALTH_GROUP = "healthz"
GRPC_HEALTH_PREFIX = "/grpc.health.v1.Health/"


class ApiLoggingSource:
    def __init__(self, *, omit_health_checks: bool) -> None:
        self.omit_health_checks = omit_health_checks

    def interceptor(self, direction: Direction, target: str) -> Interceptor | None:
        if direction is Direction.INBOUND_HTTP:
            if self.omit_health_checks and target == HTTP_HEALTH_GROUP:
                return None
            return _log_as("HTTP API called: %s -> %s (%.2f ms)")
        if direction is Direction.INBOUND_GRPC:
            if self.omit_health_checks and target.startswith(GRPC_HEALTH_PREFIX):
                return None
            return _log_as("gRPC API called: %s -> %s (%.2f ms)")
        return None


def _log_as(line: str) -> Interceptor:
    async def log_call(call: Call, proceed: Operation[Any]) -> Any:
        started = time.perf_counter()
        try:
            return await proceed()
        finally:
            log.info(line, call.operation, call.status or "OK", (time.perf_counter() - started) * 1000)

    return log_call
