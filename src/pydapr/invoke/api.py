"""The transport-free invocation API: route a call to the own app, another app, or an external URL.

Calls to another app go sidecar to sidecar: this sidecar resolves the target app id, sends the
request to that sidecar's internal port, and that sidecar hands it to its app (``deliver``).
Failures to reach the target sidecar at all are retried on another instance (nothing was sent).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import msgspec

from pydapr import errors
from pydapr.http.client import ConnectError, HttpClientError, RequestTimeout
from pydapr.http.messages import Request, Response
from pydapr.invoke import headers as h
from pydapr.invoke.app import deliver_to_app
from pydapr.nameresolution import ResolveError
from pydapr.resiliency import CircuitBreakerOpen, Failure, PolicyTimeout, http_failure

if TYPE_CHECKING:
    from pydapr.sidecar.runtime import Runtime

log = logging.getLogger("pydapr.invoke")

CONNECT_ATTEMPTS = 3
CONNECT_BACKOFF = 0.05


class InvokeAPI:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.app_id = runtime.app_id
        self.namespace = runtime.namespace
        self.client = runtime.http_client
        self._tls = ssl.create_default_context()

    def split_target(self, target: str) -> tuple[str, str]:
        """``app`` or ``app.namespace`` → (app id, namespace)."""
        app_id, dot, namespace = target.rpartition(".")
        if dot and app_id:
            return app_id, namespace
        return target, self.namespace

    async def invoke(self, target: str, method: str, request: Request) -> Response:
        """Invoke ``method`` (a path, possibly with slashes) on ``target`` with ``request``'s verb,
        query, headers and body, under the Resiliency policy for that app (``targets.apps``).

        As in daprd, the policy is the caller's: a timeout bounds each attempt, an answer outside
        200-399 or an error is a failure that a retry policy may try again, and when no attempt
        succeeds the last answer (the app's own status and body) or error stands.
        """
        if not target:
            raise errors.DIRECT_INVOKE_NO_APP_ID()
        policy = self.runtime.resiliency.for_app(target, method)
        if policy.noop:
            return await self._route(target, method, request)
        try:
            return await policy.run(lambda: self._route(target, method, request), classify=_failed_answer)
        except PolicyTimeout as exc:
            raise errors.DIRECT_INVOKE(target, f"timed out (resiliency timeout {policy.timeout:g}s)") from exc
        except CircuitBreakerOpen as exc:
            raise errors.DIRECT_INVOKE(target, "circuit breaker is open (resiliency)") from exc

    async def _route(self, target: str, method: str, request: Request) -> Response:
        if target.startswith(("http://", "https://")):
            return await self._external(target, {}, method, request)
        endpoint = self.runtime.http_endpoints.get(target)
        if endpoint is not None:
            return await self._external(
                endpoint.base_url, endpoint.headers, method, request, tls=endpoint.tls
            )
        app_id, namespace = self.split_target(target)
        if app_id == self.app_id and namespace == self.namespace:
            return await self.deliver(method, request, caller=self.app_id)
        return await self._remote(app_id, namespace, method, request)

    async def deliver(self, method: str, request: Request, *, caller: str) -> Response:
        """Hand a call to this sidecar's own app."""
        channel = self.runtime.app_channel
        if channel is None or not channel.configured:
            raise errors.DIRECT_INVOKE(self.app_id, "app channel is not initialized (no --app-port)")
        if not self.runtime.app_health.healthy:
            # Dapr short-circuits calls to an app its health checks found unhealthy.
            raise errors.DIRECT_INVOKE(self.app_id, "app is not in a healthy state")
        fwd = h.forwardable(request.headers)
        fwd.set(h.CALLER_APP_ID, caller)
        fwd.set(h.CALLEE_APP_ID, self.app_id)
        return await deliver_to_app(
            channel, self.app_id, method, request.method, request.query, fwd, request.body
        )

    async def _remote(self, app_id: str, namespace: str, method: str, request: Request) -> Response:
        fwd = h.forwardable(request.headers)
        fwd.set(h.CALLER_APP_ID, self.app_id)
        fwd.set(h.CALLER_NAMESPACE, self.namespace)
        fwd.set(h.CALLEE_APP_ID, app_id)
        target = "/" + method.lstrip("/")
        if request.query:
            target += "?" + request.query
        resolver = self.runtime.resolver
        last_error: Exception | None = None
        for attempt in range(CONNECT_ATTEMPTS):
            try:
                address = await resolver.resolve(app_id, namespace)
            except ResolveError as exc:
                raise errors.DIRECT_INVOKE(app_id, str(exc)) from exc
            try:
                resp = await self.client.request(
                    request.method, address.host, address.internal_port, target, fwd, request.body
                )
            except ConnectError as exc:
                # Nothing reached the target: safe to try another instance after a short pause.
                resolver.forget(app_id, namespace, address)
                last_error = exc
                await asyncio.sleep(CONNECT_BACKOFF * (2**attempt))
                continue
            except RequestTimeout as exc:
                raise errors.DIRECT_INVOKE(app_id, f"timed out: {exc}") from exc
            except HttpClientError as exc:
                raise errors.DIRECT_INVOKE(app_id, f"connection to the target sidecar lost: {exc}") from exc
            code = resp.headers.get(h.SIDECAR_ERROR)
            if code is not None:
                raise _rebuild_error(code, resp)
            resp.headers = h.response_headers(resp.headers)
            return resp
        raise errors.DIRECT_INVOKE(app_id, f"could not reach the app's sidecar: {last_error}")

    async def _external(
        self,
        base_url: str,
        extra_headers: dict[str, str],
        method: str,
        request: Request,
        tls: ssl.SSLContext | None = None,
    ) -> Response:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise errors.DIRECT_INVOKE(base_url, "invalid URL")
        secure = parts.scheme == "https"
        port = parts.port or (443 if secure else 80)
        path = parts.path.rstrip("/") + "/" + method.lstrip("/")
        if request.query:
            path += "?" + request.query
        fwd = h.forwardable(request.headers)
        for k, v in extra_headers.items():
            fwd.set(k, v)
        fwd.set("host", parts.netloc)
        try:
            resp = await self.client.request(
                request.method,
                parts.hostname,
                port,
                path,
                fwd,
                request.body,
                ssl=(tls or self._tls) if secure else None,
                server_hostname=parts.hostname if secure else None,
            )
        except HttpClientError as exc:
            raise errors.DIRECT_INVOKE(base_url, str(exc) or type(exc).__name__) from exc
        resp.headers = h.response_headers(resp.headers)
        return resp


def _failed_answer(resp: Response) -> Failure | None:
    if 200 <= resp.status <= 399:
        return None
    return http_failure(resp.status, dict(resp.headers.items()))


def _rebuild_error(code: str, resp: Response) -> errors.DaprError:
    try:
        message = msgspec.json.decode(resp.body).get("message", "")
    except (msgspec.DecodeError, AttributeError):
        message = resp.body.decode("utf-8", "replace")
    kind = errors.ErrorKind(code, resp.status, errors.DIRECT_INVOKE.grpc_status, "{0}")
    return kind(message)
