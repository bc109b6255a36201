"""The channel to an HTTP app: requests over the pooled HTTP client, through ``appHttpPipeline``.

Each request to the app is one ``Request`` handed to the middlewares of ``spec.appHttpPipeline``
(built once into a chain, the first middleware outermost), whose innermost step sends it. The app
API token is on the request before the middlewares see it, as daprd's HTTP channel sets it.
"""

from __future__ import annotations

import contextvars
import json
import logging
import ssl
from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydapr import errors
from pydapr.api import app_metadata
from pydapr.api.http.dispatch import build_pipeline
from pydapr.http.client import ConnectError, HttpClient, HttpClientError, RequestTimeout
from pydapr.http.messages import Headers, Request, Response
from pydapr.middleware.contract import Middleware
from pydapr.observability import trace_context
from pydapr.pipeline import Pipeline
from pydapr.resiliency import NOOP, Policy
from pydapr.sidecar.options import SidecarOptions

from .base import APP_API_TOKEN_HEADER, JOB_TRIGGER_TIMEOUT, AppChannel, BindingReply, JobTrigger

if TYPE_CHECKING:
    from google.protobuf.any_pb2 import Any as AnyPb

    from pydapr.bindings.contract import ReadEvent
    from pydapr.pubsub.bulk import BatchEntry
    from pydapr.pubsub.delivery import Outcome
    from pydapr.pubsub.subscriptions import TopicSubscription

log = logging.getLogger("pydapr.appchannel")

# The timeout of the request being sent, for the innermost step behind the middlewares.
_timeout: contextvars.ContextVar[float | None] = contextvars.ContextVar("app_request_timeout", default=None)


class HttpAppChannel(AppChannel):
    protocol = "http"

    def __init__(
        self,
        options: SidecarOptions,
        http_client: HttpClient,
        pipeline: Pipeline,
        app_id: str,
        middlewares: Sequence[Middleware] = (),
    ) -> None:
        super().__init__(options, pipeline, app_id)
        self._client = http_client
        self._ssl: ssl.SSLContext | None = None
        if options.app_uses_tls:
            # Dapr does not verify the app's certificate on the local channel (the app is on loopback).
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            self._ssl = ctx
        self._middlewares = tuple(middlewares)
        self._through_middlewares = build_pipeline(self._send, self._middlewares) if middlewares else None

    def request(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        headers: Headers | None = None,
        body: bytes = b"",
        timeout: float | None = None,
        control: bool = False,
    ) -> Awaitable[Response]:
        """One HTTP request to the app (chain, slot, token, middlewares), to await; raises
        ``pydapr.http.client`` errors when the app can't be reached. ``control`` requests (health
        probes, ``/dapr/config``) skip the slot and ``appHttpPipeline``, as daprd's. Not a
        coroutine, nor are ``_call`` and ``_send``: the HTTP client's awaitable is the request's,
        three frames less for every await inside it to pass through."""
        if not path.startswith("/"):
            path = "/" + path
        headers = headers if headers is not None else Headers()
        if self._token is not None:
            headers.set(APP_API_TOKEN_HEADER, self._token)
        req = Request(method, path, query, headers, body)
        if control:  # outside appHttpPipeline as well as the slot, as daprd's channel
            return self._call(
                path, lambda: self._send(req, timeout, direct=True), slot=False, size=len(body), verb=method
            )
        through = self._through_middlewares
        if through is None:
            return self._call(path, lambda: self._send(req, timeout), size=len(body), verb=method)

        async def send() -> Response:
            reset = _timeout.set(timeout)
            try:
                return await through(req)
            finally:
                _timeout.reset(reset)

        return self._call(path, send, size=len(body), verb=method)

    def _send(
        self, req: Request, timeout: float | None = None, *, direct: bool = False
    ) -> Awaitable[Response]:
        assert self.port is not None
        if self._through_middlewares is not None and not direct:
            timeout = _timeout.get()  # behind the middlewares, the request's timeout comes this way
        target = f"{req.path}?{req.query}" if req.query else req.path
        # Last, so the app's request is a child of the call it is made in, whatever it carried.
        trace_context.inject_headers(req.headers)
        if not target.startswith("/"):
            target = "/" + target
        return self._client.request(
            req.method, self.host, self.port, target, req.headers, req.body, timeout=timeout, ssl=self._ssl
        )

    # --- the blocks' calls ------------------------------------------------------------------------

    async def invoke(self, method: str, verb: str, query: str, headers: Headers, body: bytes) -> Response:
        try:
            return await self.request(verb, "/" + method.lstrip("/"), query=query, headers=headers, body=body)
        except ConnectError as exc:
            raise errors.DIRECT_INVOKE(self.app_id, f"app not reachable on its port: {exc}") from exc
        except RequestTimeout as exc:
            raise errors.DIRECT_INVOKE(self.app_id, f"app did not answer in time: {exc}") from exc
        except HttpClientError as exc:
            raise errors.DIRECT_INVOKE(self.app_id, f"app closed the connection: {exc}") from exc

    async def topic_event(
        self,
        sub: TopicSubscription,
        path: str,
        event: dict[str, Any],
        raw: bytes,
        metadata: Mapping[str, str],
    ) -> Outcome:
        from pydapr.pubsub import cloudevents as ce
        from pydapr.pubsub.delivery import AppDeliveryError, outcome_from_http

        # The message's metadata as headers (``pubsubname`` among them), as daprd's app channel.
        headers = Headers(app_metadata.http_headers(metadata))
        headers.set("content-type", ce.CLOUDEVENTS_CONTENT_TYPE)
        for field in ("traceparent", "tracestate"):
            if event.get(field):
                headers.set(field, str(event[field]))
        try:
            resp = await self.request("POST", "/" + path.lstrip("/"), headers=headers, body=raw)
        except Exception as exc:
            raise AppDeliveryError(str(exc)) from exc
        return outcome_from_http(resp.status, resp.body)

    async def bulk_topic_event(
        self, sub: TopicSubscription, path: str, entries: list[BatchEntry]
    ) -> dict[str, Outcome]:
        from pydapr.pubsub.bulk import http_envelope, outcomes_from_http
        from pydapr.pubsub.delivery import AppDeliveryError

        body = json.dumps(http_envelope(sub, entries), separators=(",", ":")).encode()
        headers = Headers([("content-type", "application/json")])
        try:
            resp = await self.request("POST", "/" + path.lstrip("/"), headers=headers, body=body)
        except Exception as exc:
            raise AppDeliveryError(str(exc)) from exc
        return outcomes_from_http(resp.status, resp.body, entries)

    async def list_subscriptions(self, retry: Policy = NOOP) -> list[TopicSubscription]:
        from pydapr.pubsub.subscriptions import from_app_json

        try:
            resp = await retry.run(lambda: self.request("GET", "/dapr/subscribe", timeout=10.0))
        except Exception as exc:
            log.warning("GET /dapr/subscribe failed: %s", exc)
            return []
        if resp.status != 200 or not resp.body:
            return []
        try:
            return from_app_json(json.loads(resp.body))
        except ValueError:
            log.warning("GET /dapr/subscribe did not return JSON")
            return []

    async def input_bindings(self, routes: Mapping[str, str]) -> set[str]:
        return {name for name, route in routes.items() if await self._wants(route)}

    async def _wants(self, route: str) -> bool:
        route = route.lstrip("/")
        try:
            resp = await self.request("OPTIONS", "/" + route, timeout=10.0)
        except Exception as exc:
            log.warning("probing the app for input binding route /%s failed: %s", route, exc)
            return False
        # As Dapr: a 2xx answer, or 405 (the route exists but takes only POST), means yes.
        return 200 <= resp.status < 300 or resp.status == 405

    async def binding_event(self, name: str, route: str, event: ReadEvent) -> BindingReply:
        # As daprd: the event's metadata as headers, and always Content-Type: application/json.
        headers = Headers(app_metadata.http_headers(event.metadata))
        headers.set("content-type", "application/json")
        resp = await self.request(
            "POST", "/" + route.lstrip("/"), headers=headers, body=event.data, timeout=60.0
        )
        return BindingReply(resp.status, resp.body)

    async def job_event(self, name: str, data: AnyPb) -> JobTrigger:
        from pydapr.jobs.delivery import http_body

        headers = Headers.from_lowercase([("content-type", "application/json")])
        try:
            resp = await self.request(
                "POST",
                "/job/" + name.lstrip("/"),
                headers=headers,
                body=http_body(data),
                timeout=JOB_TRIGGER_TIMEOUT,
            )
        except HttpClientError as exc:
            log.warning("job %s: the app could not be reached: %s", name, exc)
            return JobTrigger.FAILED
        if 200 <= resp.status < 300:
            return JobTrigger.TAKEN
        if resp.status == 404:
            log.error("job %s: the app answered 404, the trigger is not retried", name)
            return JobTrigger.NO_HANDLER
        log.warning("job %s: the app answered %d", name, resp.status)
        return JobTrigger.FAILED

    async def config(self) -> dict[str, Any]:
        import msgspec

        try:
            resp = await self.request("GET", "/dapr/config", timeout=5.0, control=True)
        except HttpClientError as exc:
            log.warning("GET /dapr/config failed: %s", exc)
            return {}
        if resp.status == 200 and resp.body:
            try:
                config = msgspec.json.decode(resp.body)
            except msgspec.DecodeError:
                log.warning("the app's /dapr/config is not JSON; ignored")
                return {}
            if isinstance(config, dict):
                return config
        return {}

    async def actor_request(
        self, verb: str, path: str, headers: Headers, body: bytes, timeout: float | None = None
    ) -> Response:
        # Raises pydapr.http.client errors; the actor transport reports them as actor errors.
        return await self.request(verb, path, headers=headers, body=body, timeout=timeout)

    async def health(self, path: str, timeout: float) -> bool:
        try:
            resp = await self.request("GET", path, timeout=timeout, control=True)
        except (HttpClientError, TimeoutError):
            return False
        return 200 <= resp.status < 300
