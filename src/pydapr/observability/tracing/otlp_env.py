"""OTLP export from the OpenTelemetry environment variables, as daprd reads them
(pkg/config/configuration.go ``SetTracingSpecFromEnv``): only when the Configuration names no OTLP
endpoint, ``OTEL_EXPORTER_OTLP_TRACES_*`` (else ``OTEL_EXPORTER_OTLP_*``) ``_ENDPOINT``,
``_PROTOCOL``, ``_HEADERS`` and ``_TIMEOUT`` (milliseconds) and ``OTEL_EXPORTER_OTLP_INSECURE``
set the exporter; an endpoint from the environment samples every trace unless the Configuration
gives a ``samplingRate``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import unquote

import msgspec

from pydapr.resources.models import MetadataItem, TracingSpec

_PREFIXES = ("OTEL_EXPORTER_OTLP_TRACES_", "OTEL_EXPORTER_OTLP_")
# RFC 7230 token characters, as daprd's isValidHeaderKey.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _first(environ: Mapping[str, str], suffix: str) -> str:
    for prefix in _PREFIXES:
        value = environ.get(prefix + suffix, "")
        if value:
            return value
    return ""


def parse_headers(value: str) -> tuple[MetadataItem, ...]:
    """``name=value,name2=value2`` (values percent-decoded); ValueError naming the bad pair."""
    out = []
    for pair in value.split(","):
        name, found, raw = pair.partition("=")
        if not found:
            raise ValueError(f"missing '=' in OTLP exporter header {pair!r}")
        name = name.strip()
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"invalid OTLP exporter header name {name!r}")
        out.append(MetadataItem(name, unquote(raw).strip()))
    return tuple(out)


def with_environment(spec: TracingSpec, environ: Mapping[str, str]) -> TracingSpec:
    """``spec`` with the OTLP exporter the environment describes, if the spec names none.

    Raises ValueError (the variable and why) for headers or a timeout that do not parse."""
    if spec.otel_endpoint:
        return spec
    changes: dict[str, object] = {}
    endpoint = _first(environ, "ENDPOINT")
    if endpoint:
        changes["otel_endpoint"] = endpoint.removeprefix("http://").removeprefix("https://")
        if not spec.sampling_rate_given:
            changes["sampling_rate"] = 1.0
        changes["otel_protocol"] = "http" if _first(environ, "PROTOCOL").startswith("http") else "grpc"
        if environ.get("OTEL_EXPORTER_OTLP_INSECURE") == "true":
            changes["otel_is_secure"] = False
    headers = _first(environ, "HEADERS")
    if headers:
        try:
            changes["otel_headers"] = (*spec.otel_headers, *parse_headers(headers))
        except ValueError as exc:
            raise ValueError(f"OTEL_EXPORTER_OTLP_(TRACES_)HEADERS: {exc}") from None
    timeout = _first(environ, "TIMEOUT")
    if timeout:
        try:
            ms = int(timeout)
        except ValueError:
            raise ValueError(f"OTEL_EXPORTER_OTLP_(TRACES_)TIMEOUT: {timeout!r} is not in ms") from None
        if ms > 0:
            changes["otel_timeout"] = ms / 1000
    return msgspec.structs.replace(spec, **changes) if changes else spec
