"""Actor calls between sidecars, on the internal port under a reserved path prefix.

The caller's sidecar looked the actor up and found it elsewhere; it sends the call (method or
reminder, or a timer registration) to the owner's internal port as one msgpack envelope that
carries the actor, the data, the metadata (reentrancy id, content type, forwarded headers) and the
time left before the caller's deadline. The owner answers:

- 200 with the app's answer (status, body, content type, headers);
- 421 (Misdirected Request) when it does not own the actor now: the caller looks it up again;
- a catalog error (its code, statuses and message), which the caller raises as it is.

Service invocation never uses these paths (app methods are not sent under ``/__pydapr/``).

A call to one of the sidecar's own internal actor types (the workflow runtime's) passes its
``PeerGate`` first, which decides on the caller's verified identity (its certificate, with mTLS);
the identity the caller's metadata claims is dropped and the verified one set in its place
(``CALLER_IDENTITY``), as daprd's CallActor handler stamps the SPIFFE identity.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import msgspec

from pydapr import errors, rpc
from pydapr.http.client import ConnectError, ConnectionLost, HttpClient, HttpClientError
from pydapr.http.messages import Headers, Response
from pydapr.observability import trace_context

from .contract import InvokeResult

if TYPE_CHECKING:
    from pydapr.http.multiplex_client import MultiplexClient
    from pydapr.security.mtls import Mtls
    from pydapr.security.spiffe import SpiffeId

PREFIX = "/__pydapr/actors/"
MOVED = 421
_ERROR_HEADER = "x-pydapr-actor-error"
# daprd's caller-identity metadata (dapr-caller-app-id, dapr-caller-namespace): only ever set by a
# sidecar, never taken from a client or a peer's say-so.
CALLER_APP_ID = "dapr-caller-app-id"
CALLER_NAMESPACE = "dapr-caller-namespace"
CALLER_IDENTITY = frozenset({CALLER_APP_ID, CALLER_NAMESPACE})


class PeerGate(Protocol):
    """Decides on another sidecar's call to an internal actor type before it reaches the actor."""

    def admit(self, op: str, caller: SpiffeId | None) -> errors.DaprError | None:
        """``op``: invoke, reminder, timer or timer-delete; ``caller``: the verified certificate's
        id (None without mTLS). None lets the call through; an error is the caller's answer."""
        ...


def verified_identity(metadata: dict[str, str], caller: SpiffeId | None) -> dict[str, str]:
    """``metadata`` without the caller identity it claims, and with the verified one if any."""
    kept = {k: v for k, v in metadata.items() if k.lower() not in CALLER_IDENTITY}
    if caller is not None:
        kept[CALLER_APP_ID] = caller.app_id
        kept[CALLER_NAMESPACE] = caller.namespace
    return kept


def without_identity(metadata: dict[str, str]) -> dict[str, str]:
    """A client's metadata without the caller identity it may claim (the user-facing actor API).

    The exact keys are looked for (HTTP headers arrive lower-cased; the identity is only ever read
    under these keys), so an ordinary call pays two dict lookups."""
    if CALLER_APP_ID not in metadata and CALLER_NAMESPACE not in metadata:
        return metadata
    return verified_identity(metadata, None)


class Envelope(msgspec.Struct, omit_defaults=True):
    actor_type: str
    actor_id: str
    method: str = ""
    data: bytes | None = None
    metadata: dict[str, str] = {}
    timeout: float | None = None
    name: str = ""
    due_time: str = ""
    period: str = ""
    ttl: str = ""
    callback: str = ""


class _Answer(msgspec.Struct, omit_defaults=True):
    status: int = 200
    data: bytes = b""
    content_type: str = ""
    headers: dict[str, str] = {}
    error: bool = False


class _Failure(msgspec.Struct):
    code: str
    http_status: int
    grpc_status: str
    message: str


_ENVELOPE = msgspec.msgpack.Decoder(Envelope)
_ANSWER = msgspec.msgpack.Decoder(_Answer)
_FAILURE = msgspec.msgpack.Decoder(_Failure)
_ENCODE = msgspec.msgpack.encode


class PeerMoved(Exception):
    """The peer does not own the actor (any more)."""


class PeerUnreachable(Exception):
    """Nothing was delivered: the peer's port refused or dropped the connection."""


def decode_envelope(body: bytes) -> Envelope:
    return _ENVELOPE.decode(body)


def answer(result: InvokeResult | None = None) -> Response:
    result = result or InvokeResult()
    body = _ENCODE(
        _Answer(result.status, result.data, result.content_type, dict(result.headers), result.error)
    )
    return Response(200, Headers.from_lowercase([("content-type", "application/msgpack")]), body)


def moved() -> Response:
    return Response(MOVED)


def failure(err: errors.DaprError) -> Response:
    body = _ENCODE(_Failure(err.code, err.http_status, err.grpc_status.name, err.message))
    return Response(500, Headers.from_lowercase([(_ERROR_HEADER, err.code)]), body)


class PeerClient:
    def __init__(
        self, client: HttpClient | MultiplexClient, app_id: str, namespace: str, mtls: Mtls | None = None
    ) -> None:
        self.client = client
        self.app_id = app_id
        self.namespace = namespace
        self.mtls = mtls

    async def send(self, address: str, op: str, envelope: Envelope, peer_app_id: str) -> InvokeResult:
        """Sends to the sidecar of ``peer_app_id`` at ``address`` (with mTLS, it must prove to be that
        app's)."""
        host, _, port = address.rpartition(":")
        mtls = self.mtls
        headers = Headers.from_lowercase(
            [("content-type", "application/msgpack"), ("dapr-caller-app-id", self.app_id)]
        )
        traceparent = trace_context.current_traceparent.get()
        if traceparent and envelope.method:
            # The host sends the envelope's metadata to its app as headers: the call's context goes there.
            envelope.metadata = {**envelope.metadata, trace_context.TRACEPARENT: traceparent}
            state = trace_context.current_tracestate.get()
            if state:
                envelope.metadata[trace_context.TRACESTATE] = state
        try:
            resp = await self.client.request(
                "POST",
                host or "127.0.0.1",
                int(port),
                PREFIX + op,
                headers,
                _ENCODE(envelope),
                timeout=envelope.timeout,
                ssl=mtls.client_ssl if mtls is not None else None,
                server_hostname=mtls.peer_hostname(self.namespace, peer_app_id) if mtls is not None else None,
            )
        except (ConnectError, ConnectionLost) as exc:
            # As daprd, which retries a remote actor call that ended UNAVAILABLE: the peer died or
            # closed with the call in flight, and the actor's next owner answers it (at least once).
            raise PeerUnreachable(str(exc)) from exc
        except HttpClientError as exc:
            raise errors.DaprError(
                _kind("ERR_ACTOR_INVOKE_METHOD", 500, "INTERNAL"), f"error invoke actor method: {exc}"
            ) from exc
        if resp.status == MOVED:
            raise PeerMoved()
        refused = _REFUSED_AS_TOO_LARGE.get(resp.status)
        if refused is not None:
            # The host's internal port refused the call itself (over its --max-body-size or header
            # limit): no other host would take it either, so it is the call's answer, not a move.
            reason = errors.message_of(resp.body)
            raise errors.DaprError(
                errors.ErrorKind("ERR_ACTOR_INVOKE_METHOD", 500, refused.grpc_status, "{0}"),
                f"error invoke actor method: the actor's host refused the call: {reason}",
            )
        if resp.headers.get(_ERROR_HEADER) is not None:
            f = _FAILURE.decode(resp.body)
            raise errors.DaprError(_kind(f.code, f.http_status, f.grpc_status), f.message)
        if resp.status != 200:
            raise PeerUnreachable(f"the peer at {address} answered {resp.status}")
        a = _ANSWER.decode(resp.body)
        return InvokeResult(a.data, a.status, a.content_type, a.error, a.headers)


# The internal port's own refusals, by their HTTP status (413 a body, 431 a head over its limit).
_REFUSED_AS_TOO_LARGE = {kind.http_status: kind for kind in (errors.BODY_TOO_LARGE, errors.HEADERS_TOO_LARGE)}


def _kind(code: str, http_status: int, grpc_status: str) -> errors.ErrorKind:
    status = getattr(rpc.StatusCode, grpc_status, rpc.StatusCode.INTERNAL)
    return errors.ErrorKind(code, http_status, status, "{0}")
