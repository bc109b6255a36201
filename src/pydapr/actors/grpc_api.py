"""Dapr's actor RPCs (service dapr.proto.runtime.v1.Dapr) over the actors facade, and the
``SubscribeActorEventsAlpha1`` callback stream (``pydapr.actors.stream``).

Wire work only, as daprd's pkg/api/grpc/grpc.go and pkg/api/universal/actors.go do it: names are
checked as daprd checks them on this API, bytes the caller sent reach the facade untouched, and
reminder / timer ``data`` is stored the way daprd stores it for a gRPC caller: Go's JSON encoding
of the raw bytes, a base64 string (the SDKs' actor runtimes decode that form). RPCs the installed
``dapr`` protos lack (``GetActorReminder``, ``ListActorReminders``, ``UnregisterActorRemindersByType``,
``SubscribeActorEventsAlpha1`` are not in 1.16) are simply not bound by the composed servicer; their
message classes are looked up only when called.
"""

from __future__ import annotations

import base64
import contextlib
import json
import posixpath
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from google.protobuf import any_pb2, empty_pb2, wrappers_pb2

from pydapr import rpc
from pydapr.actors import errors as actor_errors
from pydapr.actors.contract import (
    ActorKey,
    Actors,
    FailurePolicy,
    InvokeRequest,
    InvokeResult,
    Reminder,
    StateOperation,
)
from pydapr.actors.errors import LookupFailed
from pydapr.actors.stream import ActorStreams
from pydapr.api.grpc.wire import runtime
from pydapr.errors import DaprError, ErrorKind
from pydapr.state.errors import NOT_SUPPORTED_OPERATION

S = rpc.StatusCode

BAD_REQUEST = actor_errors.BAD_REQUEST
# daprd answers a bad actor type, id or method with a bare INVALID_ARGUMENT and this text.
INVALID_ARGUMENT = ErrorKind("ERR_BAD_REQUEST", 400, S.INVALID_ARGUMENT, "{0}")

# App protocols whose channel is HTTP: daprd then refuses the callback stream.
_HTTP_PROTOCOLS = frozenset({"http", "https", "h2c"})


def _quoted(value: str) -> str:
    return json.dumps(value)


def name_problem(name: str) -> str | None:
    """daprd's method.ValidateName: why ``name`` may not be an actor type, id, timer or reminder
    name, or None."""
    if any(c in name for c in "#?\x00/\\"):
        return f"name contains forbidden character: {_quoted(name)}"
    for i, c in enumerate(name):
        if ord(c) < 0x20 or ord(c) == 0x7F:
            return f"name contains control character at position {i}: {_quoted(name)}"
    if name in (".", ".."):
        return f"name is a path traversal sequence: {_quoted(name)}"
    return None


def normalize_method(method: str) -> str:
    """daprd's method.NormalizeMethod: the cleaned method path; raises INVALID_ARGUMENT."""
    if any(c in method for c in "#?\x00"):
        raise INVALID_ARGUMENT(
            f"invalid actor method: method contains forbidden character: {_quoted(method)}"
        )
    for i, c in enumerate(method):
        if ord(c) < 0x20 or ord(c) == 0x7F:
            raise INVALID_ARGUMENT(
                f"invalid actor method: method contains control character at position {i}: {_quoted(method)}"
            )
    cleaned = posixpath.normpath(method) if method else "."
    if cleaned.startswith("//"):  # Go's path.Clean keeps one leading slash only
        cleaned = "/" + cleaned.lstrip("/")
    while cleaned.startswith("../"):
        cleaned = cleaned[3:]
    return "" if cleaned in ("..", ".") else cleaned


def _registered_data(data: bytes) -> bytes | None:
    """Reminder / timer data as daprd keeps it for a gRPC caller: ``json.Marshal([]byte)``."""
    if not data:
        return None
    return json.dumps(base64.b64encode(data).decode("ascii")).encode()


def _registration_options(request: Any) -> dict[str, Any]:
    """``overwrite`` and ``failure_policy`` of a RegisterActorReminderRequest, where the installed
    protos have them (dapr 1.16's do not)."""
    fields = request.DESCRIPTOR.fields_by_name
    options: dict[str, Any] = {}
    if "overwrite" in fields and request.HasField("overwrite"):
        options["overwrite"] = request.overwrite
    if "failure_policy" in fields and request.HasField("failure_policy"):
        policy = request.failure_policy
        if policy.HasField("drop"):
            options["failure_policy"] = FailurePolicy(drop=True)
        elif policy.HasField("constant"):
            constant = policy.constant
            interval = (
                constant.interval.ToTimedelta().total_seconds() if constant.HasField("interval") else None
            )
            retries = constant.max_retries if constant.HasField("max_retries") else None
            options["failure_policy"] = FailurePolicy(interval=interval, max_retries=retries)
    return options


def _packed(data: bytes | None) -> Any:
    if data is None:
        return None
    out = any_pb2.Any()
    out.Pack(wrappers_pb2.BytesValue(value=data))
    return out


def _reminder_fields(reminder: Reminder) -> dict[str, Any]:
    """The optional fields of ``ActorReminder`` / ``GetActorReminderResponse`` (unset when empty)."""
    fields: dict[str, Any] = {"actor_type": reminder.key.actor_type, "actor_id": reminder.key.actor_id}
    if reminder.due_time:
        fields["due_time"] = reminder.due_time
    if reminder.period:
        fields["period"] = reminder.period
    if reminder.ttl:
        fields["ttl"] = reminder.ttl
    if reminder.data is not None:
        fields["data"] = _packed(reminder.data)
    return fields


def _key(request: Any) -> ActorKey:
    return ActorKey(request.actor_type, request.actor_id)


def _check_name(name: str) -> None:
    problem = name_problem(name)
    if problem is not None:
        raise BAD_REQUEST(problem)


class ActorsGrpc:
    """The actor RPCs. ``app_protocol`` is the app channel's protocol (``--app-protocol``), or None
    when the sidecar has no app channel: the callback stream is refused on an HTTP channel, as
    daprd does, and accepted otherwise."""

    def __init__(self, api: Actors, *, app_protocol: str | None = None) -> None:
        self.api = api
        self.streams = ActorStreams(api, accept_streams=app_protocol not in _HTTP_PROTOCOLS)

    def close(self) -> None:
        """Sidecar shutdown: the callback streams end now (their apps see it and reconnect)."""
        self.streams.close_all()

    async def InvokeActor(self, request: Any, context: Any) -> Any:
        for what, value in (("actorType", request.actor_type), ("actorId", request.actor_id)):
            problem = name_problem(value)
            if problem is not None:
                raise INVALID_ARGUMENT(f"invalid {what}: {problem}")
        method = normalize_method(request.method)
        call = InvokeRequest(_key(request), method, request.data, dict(request.metadata))
        try:
            result = await self.api.invoke(call)
        except LookupFailed as err:
            raise err.grpc_error() from None
        except DaprError as err:
            # An actor method that raised is not a gRPC error in daprd: the app's body is the
            # answer. The facade raises it carrying that answer (ActorMethodError.result).
            failed = getattr(err, "result", None)
            if not isinstance(failed, InvokeResult):
                raise
            result = failed
        return runtime.InvokeActorResponse(data=result.data)

    async def GetActorState(self, request: Any, context: Any) -> Any:
        found = await self.api.get_state(_key(request), request.key)
        if found is None:
            return runtime.GetActorStateResponse()
        data, metadata = found
        return runtime.GetActorStateResponse(data=data, metadata=dict(metadata))

    async def ExecuteActorStateTransaction(self, request: Any, context: Any) -> empty_pb2.Empty:
        operations = []
        for op in request.operations:
            if op.operationType == "upsert":
                value = op.value.value if op.HasField("value") else None
                operations.append(StateOperation("upsert", op.key, value, dict(op.metadata)))
            elif op.operationType == "delete":
                operations.append(StateOperation("delete", op.key))
            else:
                raise NOT_SUPPORTED_OPERATION(op.operationType)
        await self.api.transaction(_key(request), operations)
        return empty_pb2.Empty()

    async def RegisterActorTimer(self, request: Any, context: Any) -> empty_pb2.Empty:
        _check_name(request.name)
        await self.api.register_timer(
            _key(request),
            request.name,
            due_time=request.due_time,
            period=request.period,
            ttl=request.ttl,
            callback=request.callback,
            data=_registered_data(request.data),
        )
        return empty_pb2.Empty()

    async def UnregisterActorTimer(self, request: Any, context: Any) -> empty_pb2.Empty:
        await self.api.unregister_timer(_key(request), request.name)
        return empty_pb2.Empty()

    async def RegisterActorReminder(self, request: Any, context: Any) -> empty_pb2.Empty:
        if not request.name:
            raise BAD_REQUEST("reminder name cannot be empty")
        _check_name(request.name)
        await self.api.register_reminder(
            Reminder(
                _key(request),
                request.name,
                due_time=request.due_time,
                period=request.period,
                ttl=request.ttl,
                data=_registered_data(request.data),
                **_registration_options(request),
            )
        )
        return empty_pb2.Empty()

    async def UnregisterActorReminder(self, request: Any, context: Any) -> empty_pb2.Empty:
        await self.api.unregister_reminder(_key(request), request.name)
        return empty_pb2.Empty()

    async def GetActorReminder(self, request: Any, context: Any) -> Any:
        reminder = await self.api.get_reminder(_key(request), request.name)
        if reminder is None:
            raise actor_errors.REMINDER_NOT_FOUND(request.name)
        return runtime.GetActorReminderResponse(**_reminder_fields(reminder))

    async def ListActorReminders(self, request: Any, context: Any) -> Any:
        actor_id = request.actor_id if request.HasField("actor_id") else None
        found = await self.api.list_reminders(request.actor_type, actor_id)
        return runtime.ListActorRemindersResponse(
            reminders=[
                runtime.NamedActorReminder(name=r.name, reminder=runtime.ActorReminder(**_reminder_fields(r)))
                for r in found
            ]
        )

    async def UnregisterActorRemindersByType(self, request: Any, context: Any) -> Any:
        actor_id = request.actor_id if request.HasField("actor_id") else None
        await self.api.unregister_reminders(request.actor_type, actor_id)
        return runtime.UnregisterActorRemindersByTypeResponse()

    async def SubscribeActorEventsAlpha1(
        self, requests: AsyncIterator[Any], context: Any
    ) -> AsyncGenerator[Any, None]:
        async with contextlib.aclosing(self.streams.serve(requests, context)) as messages:
            async for message in messages:
                yield message
