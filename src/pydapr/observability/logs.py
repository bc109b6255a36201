"""Sidecar logs as daprd writes them (dapr/kit's logger): one line per record, text or JSON.

Every line has daprd's schema fields (``time``, ``level``, ``msg``, ``scope``, ``type``,
``instance``, ``ver``, ``app_id``), the record's structured fields (``log.info(msg,
extra=fields(code=200))``) and, while a call is being handled, its ``trace_id``. Text mode is
logrus's layout: ``time``, ``level``, ``msg`` first, then the other keys in alphabetical order, a
value bare when it is only ``[A-Za-z0-9-._/@^+]`` and Go-quoted otherwise. JSON mode is one object
with every key in alphabetical order, escaped as Go's ``encoding/json`` does (``<``, ``>``, ``&``).
"""

from __future__ import annotations

import functools
import json
import logging
import re
import socket
import sys
import time
from datetime import datetime
from typing import Any

from pydapr import DAPR_COMPAT_VERSION
from pydapr.observability.trace_context import trace_id

# The LogRecord attribute holding a record's structured fields.
FIELDS_ATTRIBUTE = "dapr_fields"
# pydapr's addition to daprd's schema: the W3C trace id of the call the line was written in.
TRACE_ID = "trace_id"

_FIXED = frozenset({"time", "level", "msg"})
_BARE = re.compile(r"[A-Za-z0-9\-._/@^+]*")
_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
# encoding/json escapes these where Python's json does not (HTML safety, JavaScript line ends).
_JSON_EXTRA_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)
# Lone surrogates (bytes that were not UTF-8, decoded with surrogateescape) cannot be written out.
_SURROGATES = re.compile("[\ud800-\udfff]")


def fields(**values: str | int | bool | float) -> dict[str, Any]:
    """``extra=`` for a record with structured fields: ``log.info("...", extra=fields(code=200))``."""
    return {FIELDS_ATTRIBUTE: values}


def level_name(levelno: int) -> str:
    """daprd's names: ``warning`` not ``WARN``, ``fatal`` for Python's CRITICAL."""
    if levelno < logging.INFO:
        return "debug"
    if levelno < logging.WARNING:
        return "info"
    if levelno < logging.ERROR:
        return "warning"
    if levelno < logging.CRITICAL:
        return "error"
    return "fatal"


def rfc3339nano(created: float) -> str:
    """Go's ``time.RFC3339Nano`` in local time: trailing zeros of the fraction dropped, ``Z`` at UTC."""
    whole = int(created)
    second, head, zone = _last_second
    if whole != second or time.timezone != _last_timezone:
        head, zone = _second_of(whole)
    micro = min(round((created - whole) * 1_000_000), 999_999)
    fraction = f"{micro:06d}".rstrip("0")
    return f"{head}.{fraction}{zone}" if fraction else f"{head}{zone}"


def _second_of(whole: int) -> tuple[str, str]:
    """The date-time and zone parts of one second, kept: a sidecar logs many lines per second and
    the local-time conversion is most of a line's formatting cost."""
    global _last_second, _last_timezone
    moment = datetime.fromtimestamp(whole).astimezone()
    offset = moment.utcoffset()
    seconds = int(offset.total_seconds()) if offset is not None else 0
    if seconds == 0:
        zone = "Z"
    else:
        sign = "+" if seconds > 0 else "-"
        zone = f"{sign}{abs(seconds) // 3600:02d}:{abs(seconds) % 3600 // 60:02d}"
    head = moment.strftime("%Y-%m-%dT%H:%M:%S")
    _last_second = (whole, head, zone)
    _last_timezone = time.timezone  # changes only with TZ and time.tzset()
    return head, zone


_last_second: tuple[int, str, str] = (-1, "", "")
_last_timezone = time.timezone


def go_quote(value: str) -> str:
    """Go's ``strconv.Quote``: printable characters as they are, the rest escaped."""
    if value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'
    out = ['"']
    for ch in value:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif "\udc80" <= ch <= "\udcff":  # a byte that was not UTF-8: Go prints the byte
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            out.append("\\ufffd")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def _text_value(value: Any) -> str:
    if isinstance(value, str):
        return _quoted_if_needed(value) if len(value) <= _KEPT_LENGTH else _quote_if_needed(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)  # digits and a sign: always bare
    return _quote_if_needed(str(value))


def _quote_if_needed(text: str) -> str:
    return text if _BARE.fullmatch(text) else go_quote(text)


# Most values repeat line after line (scope, instance, version, app id, an API line's method):
# short ones are rendered once.
_KEPT_LENGTH = 160
_quoted_if_needed = functools.lru_cache(maxsize=2048)(_quote_if_needed)


class DaprFormatter(logging.Formatter):
    def __init__(self, app_id: str, as_json: bool) -> None:
        super().__init__()
        self.app_id = app_id
        self.as_json = as_json
        self.instance = socket.gethostname()

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message = f"{message}\n{self.formatException(record.exc_info)}"
        entries: dict[str, Any] = {}
        extra = getattr(record, FIELDS_ATTRIBUTE, None)
        if isinstance(extra, dict):
            entries.update((k, v) for k, v in extra.items() if k not in _FIXED)
        if TRACE_ID not in entries:
            # Read here, in the task that logs: the call's context is the one current now.
            current = trace_id()
            if current:
                entries[TRACE_ID] = current
        # The schema's fields win over a record's fields of the same name, as in dapr/kit.
        entries["scope"] = _scope(record.name)
        entries["type"] = "log"
        entries["instance"] = self.instance
        entries["ver"] = DAPR_COMPAT_VERSION
        if self.app_id:
            entries["app_id"] = self.app_id
        when = rfc3339nano(record.created)
        level = level_name(record.levelno)
        if self.as_json:
            return _json_line(when, level, message, entries)
        return _text_line(when, level, message, entries)


@functools.lru_cache(maxsize=512)
def _scope(name: str) -> str:
    return "dapr" + name[len("pydapr") :] if name == "pydapr" or name.startswith("pydapr.") else name


def _json_line(when: str, level: str, message: str, entries: dict[str, Any]) -> str:
    entries.update(time=when, level=level, msg=message)
    line = json.dumps(entries, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    if not line.isascii():
        line = _SURROGATES.sub("\ufffd", line).translate(_JSON_EXTRA_ESCAPES)
    elif "<" in line or ">" in line or "&" in line:
        line = line.translate(_JSON_EXTRA_ESCAPES)
    return line


def _text_line(when: str, level: str, message: str, entries: dict[str, Any]) -> str:
    parts = [f'time="{when}"', f"level={level}"]  # an RFC 3339 time always has ':' to quote
    if message:  # logrus leaves an empty message out of text lines (JSON keeps it)
        parts.append(f"msg={_text_value(message)}")
    parts.extend(f"{key}={_text_value(entries[key])}" for key in sorted(entries))
    return " ".join(parts)


def configure_logging(app_id: str, level: str, as_json: bool) -> None:
    # A line names no source file, thread or process: not computing them per record (the logging
    # HOWTO's "Optimization") takes a third off the cost of a line, which API logging pays per call.
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(DaprFormatter(app_id, as_json))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper() if level != "fatal" else "CRITICAL")
    # grpc and asyncio are chatty at debug; keep them at warning unless asked for debug.
    for noisy in ("asyncio", "grpc"):
        logging.getLogger(noisy).setLevel(logging.WARNING if level != "debug" else logging.DEBUG)
