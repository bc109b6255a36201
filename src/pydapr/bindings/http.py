"""``bindings.http``: an output binding that sends HTTP requests to one base URL
(components-contrib bindings/http).

Metadata: ``url`` (required). Operations are the HTTP verbs (``create`` means POST). Request
metadata: ``path`` is appended to the URL; every other entry is sent as a header. The answer is the
response body, with metadata ``statusCode``, ``status`` and the response headers; a status of 400
or more is an error naming the status, unless the request metadata sets ``errorIfNot2XX: false``.
"""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

from pydapr.bindings.contract import BindingError, InvokeRequest, InvokeResponse, OutputBinding
from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.http.client import HttpClient
from pydapr.http.messages import Headers

_VERBS = {
    "create": "POST",
    "get": "GET",
    "head": "HEAD",
    "post": "POST",
    "put": "PUT",
    "patch": "PATCH",
    "delete": "DELETE",
    "options": "OPTIONS",
    "trace": "TRACE",
}


class HttpBinding(OutputBinding):
    def __init__(self) -> None:
        self._client = HttpClient()

    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        url = metadata.get("url") or ""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ComponentConfigError(metadata.name, "url", f"must be an http(s) URL, got {url!r}")
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._base = parts.path.rstrip("/")
        self._query = parts.query
        self._ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self._timeout = float(metadata.get_int("responseTimeoutSeconds", 60))

    def operations(self) -> tuple[str, ...]:
        return tuple(_VERBS)

    async def invoke(self, request: InvokeRequest) -> InvokeResponse:
        meta = dict(request.metadata)
        path = meta.pop("path", "")
        error_if_not_2xx = meta.pop("errorIfNot2XX", "true").lower() != "false"
        target = self._base + ("/" + path.lstrip("/") if path else "") or "/"
        if self._query:
            target += ("&" if "?" in target else "?") + self._query
        headers = Headers([(k, v) for k, v in meta.items() if k and "\n" not in v])
        if request.data and headers.get("content-type") is None:
            headers.set("content-type", "application/json; charset=utf-8")
        resp = await self._client.request(
            _VERBS[request.operation],
            self._host,
            self._port,
            target,
            headers,
            request.data,
            timeout=self._timeout,
            ssl=self._ssl,
        )
        out_meta = {"statusCode": str(resp.status), "status": str(resp.status)}
        for name, value in resp.headers.items():
            out_meta[name] = value
        if error_if_not_2xx and resp.status >= 400:
            raise BindingError(f"received status code {resp.status}", status=resp.status)
        return InvokeResponse(resp.body, out_meta)

    async def close(self) -> None:
        await self._client.close()
