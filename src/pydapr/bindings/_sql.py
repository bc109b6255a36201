"""What the PostgreSQL and MySQL bindings share: reading ``sql``/``params``, JSON for row values,
and the timing metadata Dapr's SQL bindings answer with."""

from __future__ import annotations

import datetime as dt
import decimal
import time
import uuid
from typing import Any

import msgspec

from pydapr.bindings.contract import BindingError, InvokeRequest


def sql_and_params(request: InvokeRequest) -> tuple[str, list[Any]]:
    sql = request.metadata.get("sql", "")
    if not sql:
        raise BindingError("required metadata 'sql' missing")
    params_text = request.metadata.get("params", "")
    if not params_text:
        return sql, []
    try:
        params = msgspec.json.decode(params_text)
    except msgspec.DecodeError as exc:
        raise BindingError(f"metadata 'params' must be a JSON array: {exc}") from None
    if not isinstance(params, list):
        raise BindingError("metadata 'params' must be a JSON array")
    return sql, params


def json_value(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return value


class Timing:
    def __init__(self, operation: str, sql: str) -> None:
        self.operation = operation
        self.sql = sql
        self.start = dt.datetime.now(dt.UTC)
        self._t0 = time.perf_counter()

    def metadata(self, **extra: str) -> dict[str, str]:
        elapsed = time.perf_counter() - self._t0
        end = dt.datetime.now(dt.UTC)
        return {
            "operation": self.operation,
            "sql": self.sql,
            "start-time": self.start.isoformat(),
            "end-time": end.isoformat(),
            "duration": f"{elapsed * 1000:.3f}ms",
            **extra,
        }
