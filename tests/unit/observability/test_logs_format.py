"""The sidecar's log lines as daprd's logger writes them (dapr/kit logger/handler.go): the schema
fields, structured fields, key order, quoting and escaping in text and JSON, the time format, and
the trace id of the call a line is written in."""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator

import pytest

from pydapr import DAPR_COMPAT_VERSION
from pydapr.observability.logs import DaprFormatter, fields, go_quote, level_name, rfc3339nano
from pydapr.observability.trace_context import current_traceparent

HOST = socket.gethostname()
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
# 2026-12-03T08:09:47.5Z
CREATED = 1796285387.5


def _record(
    msg: str,
    *args: object,
    name: str = "pydapr.runtime",
    level: int = logging.INFO,
    extra: dict[str, object] | None = None,
) -> logging.LogRecord:
    record = logging.LogRecord(name, level, __file__, 1, msg, args, None)
    record.created = CREATED
    for key, value in (extra or {}).items():
        setattr(record, key, value)
    return record


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    """Lines are in local time, as daprd's; the tests pin the zone and put the process's back."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


def test_json_line_has_every_key_in_alphabetical_order() -> None:
    line = DaprFormatter("orders", as_json=True).format(
        _record(
            "HTTP API Called",
            name="pydapr.runtime.http-info",
            extra=fields(code=200, method="GET /v1.0/metadata"),
        )
    )
    assert line == (
        f'{{"app_id":"orders","code":200,"instance":"{HOST}","level":"info","method":"GET /v1.0/metadata",'
        '"msg":"HTTP API Called","scope":"dapr.runtime.http-info","time":"2026-12-03T08:09:47.5Z",'
        f'"type":"log","ver":"{DAPR_COMPAT_VERSION}"}}'
    )
    assert list(json.loads(line)) == sorted(json.loads(line))


def test_text_line_is_logrus_layout() -> None:
    line = DaprFormatter("orders", as_json=False).format(
        _record(
            "HTTP API Called",
            name="pydapr.runtime.http-info",
            extra=fields(code=404, method="GET /v1.0/state/s/k", useragent="curl/8.5.0", size=0),
        )
    )
    assert line == (
        'time="2026-12-03T08:09:47.5Z" level=info msg="HTTP API Called" app_id=orders code=404 '
        f'instance={HOST} method="GET /v1.0/state/s/k" scope=dapr.runtime.http-info size=0 type=log '
        f"useragent=curl/8.5.0 ver={DAPR_COMPAT_VERSION}"
    )


def test_text_values_are_bare_only_when_go_would_leave_them_bare() -> None:
    fmt = DaprFormatter("a", as_json=False)
    line = fmt.format(_record("m", extra=fields(plain="a-b_c.d/e@f^g+h", spaced="a b", empty="", yes=True)))
    assert " plain=a-b_c.d/e@f^g+h " in line
    assert ' spaced="a b" ' in line
    assert " empty= " in line  # logrus writes an empty value bare
    assert line.endswith(" yes=true")  # the last key, alphabetically
    assert "msg=m " in line


def test_an_empty_message_is_left_out_of_text_and_kept_in_json() -> None:
    assert " msg=" not in DaprFormatter("a", as_json=False).format(_record(""))
    assert json.loads(DaprFormatter("a", as_json=True).format(_record("")))["msg"] == ""


def test_go_quote_escapes_as_strconv_quote() -> None:
    assert go_quote('say "hi"\\') == '"say \\"hi\\"\\\\"'
    assert go_quote("a\nb\tc\x01\x7f") == '"a\\nb\\tc\\x01\\x7f"'
    assert go_quote("café ☕") == '"café ☕"'  # printable non-ASCII as it is
    assert go_quote("\u00a0") == '"\\u00a0"'
    assert go_quote("\udcff") == '"\\xff"'  # a byte that was not UTF-8


def test_json_escapes_as_go_encoding_json() -> None:
    line = DaprFormatter("a", as_json=True).format(_record("<b> & café\u2028\n\udcff"))
    assert '"msg":"\\u003cb\\u003e \\u0026 café\\u2028\\n\ufffd"' in line
    assert json.loads(line)["msg"] == "<b> & café\u2028\n\ufffd"


def test_schema_fields_win_over_a_records_fields_of_the_same_name() -> None:
    line = json.loads(
        DaprFormatter("orders", as_json=True).format(
            _record("m", extra=fields(scope="x", app_id="y", msg="z", type="request", other=1))
        )
    )
    assert (line["scope"], line["app_id"], line["msg"], line["type"], line["other"]) == (
        "dapr.runtime",
        "orders",
        "m",
        "log",
        1,
    )


def test_scope_level_and_app_id() -> None:
    fmt = DaprFormatter("", as_json=True)
    third_party = json.loads(fmt.format(_record("m", name="aiosqlite", level=logging.WARNING)))
    assert third_party["scope"] == "aiosqlite" and third_party["level"] == "warning"
    assert "app_id" not in third_party  # dapr/kit leaves out an unset app id
    assert json.loads(fmt.format(_record("m", name="pydapr")))["scope"] == "dapr"
    assert [level_name(n) for n in (10, 20, 30, 40, 50)] == ["debug", "info", "warning", "error", "fatal"]


def test_arguments_and_exceptions_are_in_the_message() -> None:
    fmt = DaprFormatter("a", as_json=True)
    assert (
        json.loads(fmt.format(_record("loaded %s (%d)", "statestore", 3)))["msg"] == "loaded statestore (3)"
    )
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record("failed")
        record.exc_info = sys.exc_info()
    msg = json.loads(fmt.format(record))["msg"]
    assert msg.startswith("failed\nTraceback") and msg.endswith("ValueError: boom")


def test_time_is_go_rfc3339nano_in_local_time() -> None:
    assert rfc3339nano(CREATED) == "2026-12-03T08:09:47.5Z"
    assert rfc3339nano(1796285387.0) == "2026-12-03T08:09:47Z"  # no fraction at all
    assert rfc3339nano(1796285387.123456) == "2026-12-03T08:09:47.123456Z"
    os.environ["TZ"] = "America/Sao_Paulo"
    time.tzset()
    assert rfc3339nano(CREATED) == "2026-12-03T05:09:47.5-03:00"


def test_a_line_written_in_a_traced_call_carries_its_trace_id() -> None:
    fmt = DaprFormatter("a", as_json=True)
    assert "trace_id" not in json.loads(fmt.format(_record("outside")))
    token = current_traceparent.set(TRACEPARENT)
    try:
        inside = json.loads(fmt.format(_record("inside")))
        text = DaprFormatter("a", as_json=False).format(_record("inside"))
    finally:
        current_traceparent.reset(token)
    assert inside["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert " trace_id=4bf92f3577b34da6a3ce929d0e0e4736 type=log " in text
    # A record naming its trace (the API line of a call tracing did not take) keeps that one.
    named = json.loads(fmt.format(_record("m", extra=fields(trace_id="0af7651916cd43dd8448eb211c80319c"))))
    assert named["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
