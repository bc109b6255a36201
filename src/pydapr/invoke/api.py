"""The transport-free invocation API: route a call to the own app, another app, or an external URL.

Calls to another app go sidecar to sidecar: this sidecar resolves the target app id, sends the
request to that sidecar's internal port, and that sidecar hands it to its app (``deliver``, through
the app channel).

Retries, as daprd applies them: ``invoke`` runs through ``pipeline.chain(OUTBOUND_INVOKE, target)``,
where the Resiliency policy of ``targets.apps`` (or the ``DefaultApp...`` policies) applies; a target
without a named apps target gets Dapr's built-in ``DaprBuiltInServiceRetries`` around the hop to
the other sidecar, which retries only a failed connection (nothing was sent), forgetting the
address that failed each time.
"""

from __future__ import annotations

import functools
import logging
import ssl
from collections.abc import Awaitable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydapr import errors
from pydapr.http.client import ConnectError, HttpClient, HttpClientError, RequestTimeout
from pydapr.http.messages import Request, Response
from pydapr.http.multiplex_client import MultiplexClient, PeerStopping
from pydapr.invoke import headers as h
from pydapr.nameresolution import NameResolver, ResolveError
from pydapr.observability import trace_context
from pydapr.pipeline import Call, Direction, Pipeline
from pydapr.resiliency import (
    NOOP,
    BuiltIn,
    CircuitBreakerOpen,
    Failure,
    Permanent,
    PolicyTimeout,
    ResiliencyPolicies,
    http_failure,
)

if TYPE_CHECKING:
    from pydapr.appchannel import AppChannel
    from pydapr.invoke.endpoints import Endpoint
    from pydapr.security.mtls import Mtls
    from pydapr.sidecar.app_health import AppHealthChecker
    from pydapr.sidecar.runtime import Runtime

log = logging.getLogger("pydapr.invoke")


class InvokeAPI:
    def __init__(
        self,
        *,
        app_id: str,
        namespace: str,
        client: HttpClient,
        channel: AppChannel | None,
        app_health: AppHealthChecker,
        resolver: NameResolver,
        resiliency: ResiliencyPolicies,
        pipeline: Pipeline,
        http_endpoints: dict[str, Endpoint],
        mtls: Mtls | None = None,
        peers: MultiplexClient | None = None,
    ) -> None:
        self.app_id = app_id
        self.namespace = namespace
        self.client = client
        self.channel = channel
        self.app_health = app_health
        self.resolver = resolver
        self.resiliency = resiliency
        self.pipeline = pipeline
        self.http_endpoints = http_endpoints
        self.mtls = mtls
        # The other sidecars' internal ports; external URLs go over ``client``.
        self.peers: HttpClient | MultiplexClient = peers if peers is not None else client

    @functools.cached_property
    def _tls(self) -> ssl.SSLContext:
        # Made on the first https:// call to an external endpoint: loading the system CA store at
        # startup cost every sidecar ~30 ms and ~1.3 MiB, and most never make such a call.
        return ssl.create_default_context()

    @classmethod
    def from_runtime(cls, runtime: Runtime) -> InvokeAPI:
        return cls(
            app_id=runtime.app_id,
            namespace=runtime.namespace,
            client=runtime.http_client,
            channel=runtime.app_channel,
            app_health=runtime.app_health,
            resolver=runtime.resolver,
            resiliency=runtime.resiliency,
            pipeline=runtime.pipeline,
            http_endpoints=runtime.http_endpoints,
            mtls=runtime.mtls,
            peers=runtime.peer_client,
        )

    def split_target(self, target: str) -> tuple[str, str]:
        """``app`` or ``app.namespace`` → (app id, namespace)."""
        app_id, dot, namespace = target.rpartition(".")
        if dot and app_id:
            return app_id, namespace
        return target, self.namespace

    async def invoke(self, target: str, method: str, request: Request) -> Response:
        """Invoke ``method`` (a path, possibly with slashes) on ``target`` with ``request``'s verb,
        query, headers and body, through the OUTBOUND_INVOKE chain for that target (where the
        Resiliency policy for that app, ``targets.apps``, applies).

        As in daprd, the policy is the caller's: a timeout bounds each attempt, an answer outside
        200-399 or an error is a failure that a retry policy may try again, and when no attempt
        succeeds the last answer (the app's own status and body) or error stands.
        """
        if not target:
            raise errors.DIRECT_INVOKE_NO_APP_ID()
        chain = self.pipeline.chain(Direction.OUTBOUND_INVOKE, target)
        if chain.empty:
            return await self._route(target, method, request)
        call = Call(Direction.OUTBOUND_INVOKE, target, method, caller=self.app_id, classify=_failed_answer)
        try:
            return await chain.run(call, lambda: self._route(target, method, request))  # type: ignore[no-any-return]
        except PolicyTimeout as exc:
            raise errors.DIRECT_INVOKE(target, f"timed out (resiliency timeout {exc.seconds:g}s)") from exc
        except CircuitBreakerOpen as exc:
            raise errors.DIRECT_INVOKE(target, "circuit breaker is open (resiliency)") from exc

    def _route(self, target: str, method: str, request: Request) -> Awaitable[Response]:
        # Not a coroutine: the chosen route's awaitable is the call's (one frame less per await).
        if target.startswith(("http://", "https://")):
            return self._external(target, {}, method, request)
        endpoint = self.http_endpoints.get(target)
        if endpoint is not None:
            return self._external(endpoint.base_url, endpoint.headers, method, request, tls=endpoint.tls)
        app_id, namespace = self.split_target(target)
        if app_id == self.app_id and namespace == self.namespace:
            return self.deliver(method, request, caller=self.app_id)
        return self._remote(app_id, namespace, method, request)

    def deliver(
        self, method: str, request: Request, *, caller: str, caller_namespace: str | None = None
    ) -> Awaitable[Response]:
        """Hand a call to this sidecar's own app (await the result). ``caller_namespace``, when
        given, replaces the ``dapr-caller-namespace`` the request carried (the caller's verified
        identity, with mTLS). Not a coroutine: the app channel's awaitable is the call's; a refusal
        raises here."""
        channel = self.channel
        if channel is None or not channel.configured:
            raise errors.DIRECT_INVOKE(self.app_id, "app channel is not initialized (no --app-port)")
        if not self.app_health.healthy:
            # Dapr short-circuits calls to an app its health checks found unhealthy.
            raise errors.DIRECT_INVOKE(self.app_id, "app is not in a healthy state")
        if caller_namespace is None:
            own = {h.CALLER_APP_ID: caller, h.CALLEE_APP_ID: self.app_id}
        else:
            own = {
                h.CALLER_NAMESPACE: caller_namespace,
                h.CALLER_APP_ID: caller,
                h.CALLEE_APP_ID: self.app_id,
            }
        fwd = h.forwarded(request.headers, trace_context.add_trace_fields(own))
        return channel.invoke(method, request.method, request.query, fwd, request.body)

    async def _remote(self, app_id: str, namespace: str, method: str, request: Request) -> Response:
        own = {h.CALLER_APP_ID: self.app_id, h.CALLER_NAMESPACE: self.namespace, h.CALLEE_APP_ID: app_id}
        fwd = h.forwarded(request.headers, trace_context.add_trace_fields(own))
        target = "/" + method.lstrip("/")
        if request.query:
            target += "?" + request.query
        resolver = self.resolver
        mtls = self.mtls
        # With mTLS the callee must prove it is that app's sidecar (its certificate's name).
        tls = mtls.client_ssl if mtls is not None else None
        hostname = mtls.peer_hostname(namespace, app_id) if mtls is not None else None

        async def attempt() -> Response:
            try:
                return await send()
            except PeerStopping:
                # That instance is stopping and started nothing (already forgotten): another one
                # takes the call now, without the built-in retry's wait; where there is none, the
                # connection fails and the retry policy decides.
                return await send()

        async def send() -> Response:
            try:
                address = await resolver.resolve(app_id, namespace)
            except ResolveError as exc:
                raise Permanent(errors.DIRECT_INVOKE(app_id, str(exc))) from exc
            try:
                return await self.peers.request(
                    request.method,
                    address.host,
                    address.internal_port,
                    target,
                    fwd,
                    request.body,
                    ssl=tls,
                    server_hostname=hostname,
                )
            except ConnectError:
                # Nothing reached the target: the built-in retry may try another instance.
                resolver.forget(app_id, namespace, address)
                raise
            except RequestTimeout as exc:
                raise Permanent(errors.DIRECT_INVOKE(app_id, f"timed out: {exc}")) from exc
            except HttpClientError as exc:
                raise Permanent(
                    errors.DIRECT_INVOKE(app_id, f"connection to the target sidecar lost: {exc}")
                ) from exc

        # As daprd: the built-in retries only when no named apps target governs this app.
        named = self.resiliency.has_target("app", app_id)
        builtin = NOOP if named else self.resiliency.builtin(BuiltIn.SERVICE)
        try:
            resp = await builtin.run(attempt)
        except Permanent as exc:  # NOOP runs the attempt bare, without unwrapping
            raise exc.error from None
        except ConnectError as exc:
            raise errors.DIRECT_INVOKE(app_id, f"could not reach the app's sidecar: {exc}") from exc
        code = resp.headers.get(h.SIDECAR_ERROR)
        if code is not None:
            raise _rebuild_error(code, resp)
        resp.headers = h.response_headers(resp.headers)
        return resp

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
        trace_context.inject_headers(fwd)
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
    message = errors.message_of(resp.body)
    # The callee's refusals keep their meaning over gRPC (access control: PermissionDenied).
    status = (
        errors.DIRECT_INVOKE_FORBIDDEN.grpc_status if resp.status == 403 else errors.DIRECT_INVOKE.grpc_status
    )
    kind = errors.ErrorKind(code, resp.status, status, "{0}")
    return kind(message)
