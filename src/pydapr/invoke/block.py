"""Service invocation in the sidecar: the HTTP routes, ``InvokeService`` and the internal endpoint."""

from __future__ import annotations

import base64
import binascii
import posixpath
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from google.protobuf import any_pb2

from pydapr import errors
from pydapr.api.grpc.status import http_code_status
from pydapr.api.grpc.wire import common
from pydapr.http.messages import Headers, Request, Response
from pydapr.invoke import headers as h
from pydapr.invoke.api import InvokeAPI
from pydapr.invoke.codes import grpc_code_from_int
from pydapr.observability import trace_context
from pydapr.pipeline import Call, Direction
from pydapr.sidecar.block import BuildingBlock

if TYPE_CHECKING:
    import grpc

    from pydapr.api.http.router import Router
    from pydapr.sidecar.runtime import Runtime

_VERB_NAMES = {value: name for name, value in common.HTTPExtension.Verb.items()}
_GRPC_SKIP_METADATA = frozenset({"dapr-api-token", "user-agent", "content-type", "dapr-app-id"})


def split_invoke_path(rest: str) -> tuple[str, str]:
    """``<target>/method/<path>`` → (target, path); the target may be a URL with slashes."""
    marker = rest.find("/method/")
    if marker < 0:
        if rest.endswith("/method"):
            raise errors.DIRECT_INVOKE_METHOD()
        raise errors.NOT_FOUND("/v1.0/invoke/" + rest)
    target = unquote(rest[:marker])
    method = rest[marker + len("/method/") :]
    if not method:
        raise errors.DIRECT_INVOKE_METHOD()
    return target, method


def target_from_headers(req: Request) -> str | None:
    """The app named by the ``dapr-app-id`` header, or by Basic auth ``dapr-app-id:<app>``.

    The order is daprd's (pkg/api/http/directmessaging.go). The header is only for the Dapr API
    and is not passed on; the Authorization header stays, as daprd leaves it.
    """
    app_id = req.headers.get(h.APP_ID_HEADER)
    if app_id:
        req.headers.remove(h.APP_ID_HEADER)
        return app_id
    auth = req.headers.get("authorization")
    if auth is None or not auth.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(auth[len("Basic ") :], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, app_id = decoded.partition(":")
    if not sep or ":" in app_id or user.lower() != h.APP_ID_HEADER or not app_id:
        return None
    return app_id


def method_from_path(path: str) -> str:
    """The request path as a method name: cleaned as Go's path.Clean does, a trailing slash kept."""
    cleaned = posixpath.normpath(path or "/")
    if cleaned.startswith("//"):  # normpath keeps a leading double slash; path.Clean does not
        cleaned = "/" + cleaned.lstrip("/")
    if len(path) > 1 and path.endswith("/") and cleaned != "/":
        cleaned += "/"
    return cleaned.removeprefix("/")


class InvokeBlock(BuildingBlock):
    name = "invoke"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        self.app_id = runtime.app_id
        self.pipeline = runtime.pipeline
        self.api = InvokeAPI.from_runtime(runtime)
        self.access_control = runtime.access_control
        self.app_is_http = not runtime.options.app_uses_grpc

    def register_http(self, router: Router) -> None:
        router.add("*", "/v1.0/invoke/{rest:*}", self._http_invoke)

    def _http_invoke(self, req: Request, params: dict[str, str]) -> Awaitable[Response]:
        # As in daprd, a target named by header wins over the one in the path; the whole path is
        # then the method. Not a coroutine: the invocation's awaitable is the handler's.
        target = target_from_headers(req)
        if target is not None:
            return self.api.invoke(target, method_from_path(req.path), req)
        target, method = split_invoke_path(params["rest"])
        return self.api.invoke(target, method, req)

    async def invoke_fallback(self, req: Request) -> Response:
        """Any path no API route serves: a method of the app named by header, else 404."""
        target = target_from_headers(req)
        if target is None:
            raise errors.NOT_FOUND(req.path)
        return await self.api.invoke(target, method_from_path(req.path), req)

    async def handle_internal(self, req: Request) -> Response:
        """A call from another sidecar for this sidecar's app (the internal port).

        Access control (``spec.accessControl``) decides first, on the caller's verified identity
        (its certificate, with mTLS; none without). The call then runs through
        ``pipeline.chain(INBOUND_INTERNAL, <caller app id>)`` and is delivered to the app.
        """
        callee = req.headers.get(h.CALLEE_APP_ID)
        if callee is not None and callee != self.app_id:
            # A stale registry entry pointed a caller at a port now used by another app.
            raise errors.DIRECT_INVOKE(callee, f"reached the sidecar of {self.app_id} instead")
        identity = req.identity
        # With mTLS the caller is who its certificate says, whatever a header claims: the app is
        # given the certificate's app id and namespace (``deliver`` sets both on what it forwards).
        caller = identity.app_id if identity is not None else req.headers.get(h.CALLER_APP_ID) or ""
        namespace = identity.namespace if identity is not None else None
        method = req.path.lstrip("/")
        try:
            if self.access_control is not None:
                denial = self.access_control.denial(
                    identity, method_from_path(req.path), req.method if self.app_is_http else None
                )
                if denial is not None:
                    raise errors.DIRECT_INVOKE_FORBIDDEN(self.app_id, denial)
            chain = self.pipeline.chain(Direction.INBOUND_INTERNAL, caller)
            if chain.empty:
                return await self.api.deliver(method, req, caller=caller, caller_namespace=namespace)
            call = Call(
                Direction.INBOUND_INTERNAL,
                caller,
                method,
                caller=caller,
                trace=req.headers.get("traceparent") or "",
            )
            state = trace_context.valid_tracestate(req.headers.get("tracestate") or "")
            state_token = trace_context.current_tracestate.set(state)
            try:
                return await chain.run(  # type: ignore[no-any-return]
                    call, lambda: self.api.deliver(method, req, caller=caller, caller_namespace=namespace)
                )
            finally:
                trace_context.current_tracestate.reset(state_token)
        except errors.DaprError as err:
            resp = Response.json(err.http_body(), err.http_status)
            resp.headers.add(h.SIDECAR_ERROR, err.code)
            return resp

    def grpc_handler(self) -> object:
        return _InvokeGrpc(self.api)


class _InvokeGrpc:
    def __init__(self, api: InvokeAPI) -> None:
        self.api = api

    async def InvokeService(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        message = request.message
        if not message.method:
            raise errors.DIRECT_INVOKE_METHOD()
        verb = "POST"
        query = ""
        if message.HasField("http_extension"):
            verb = _VERB_NAMES.get(message.http_extension.verb, "POST")
            if verb == "NONE":
                verb = "POST"
            query = message.http_extension.querystring
        headers = Headers.from_lowercase(
            [
                (k, v)
                for k, v in (context.invocation_metadata() or ())
                if isinstance(v, str) and k not in _GRPC_SKIP_METADATA and not k.startswith((":", "grpc-"))
            ]
        )
        if message.content_type:
            headers.set("content-type", message.content_type)
        req = Request(verb, "/" + message.method.lstrip("/"), query, headers, message.data.value)
        resp = await self.api.invoke(request.id, message.method, req)
        grpc_status_header = resp.headers.get(h.GRPC_STATUS)
        if grpc_status_header is not None:
            code = grpc_code_from_int(int(grpc_status_header))
            await context.abort(code, resp.headers.get(h.GRPC_MESSAGE) or "")
        await context.send_initial_metadata(
            (*_metadata_from_headers(resp.headers), ("dapr-http-status", str(resp.status)))
        )
        if not 200 <= resp.status < 300:
            await context.abort_with_status(
                http_code_status(resp.status, resp.body.decode("utf-8", "replace"))
            )
        return common.InvokeResponse(
            data=any_pb2.Any(value=resp.body), content_type=resp.headers.get("content-type") or ""
        )


def _metadata_from_headers(headers: Headers) -> list[tuple[str, str]]:
    return h.to_grpc_metadata(headers)
