"""Hostile input over the gRPC API: every method of ``dapr.proto.runtime.v1.Dapr`` (from the
installed ``dapr`` package's descriptors; ``Shutdown`` excluded) is called on a live sidecar
(tests/fuzz/live.py) with

- random bytes as the request: bytes that are no valid message must be refused as daprd's Go
  server refuses them (INTERNAL "error unmarshalling request", or INVALID_ARGUMENT); bytes that
  happen to parse are a random message like the next kind;
- a message over ``--dapr-http-max-request-size``: RESOURCE_EXHAUSTED;
- messages filled at random from the descriptor (strings incl. unicode, empty and huge ones,
  negative and extreme integers, unknown enum values, nested messages, maps, repeated fields, with
  the live component names and seeded keys mixed in): never UNKNOWN (an exception a handler did
  not handle), a unary call never outlasts its deadline.

After every refused call the seeded state, lock and job read exactly as before; after each method
the sidecar is alive and healthy, with no traceback in its log. Hypothesis is seeded (``SEED``);
``FUZZ_GRPC_EXAMPLES`` sets the random messages per method (default 10), ``FUZZ_GRPC_REPORT`` names
a file for the outcomes.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import hypothesis
import pytest
from dapr.proto.runtime.v1 import dapr_pb2
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from hypothesis import HealthCheck
from hypothesis import strategies as st

from tests.fuzz import live as L

# Per method and kind: the slowest takes about 5 s; the first also starts the sidecar.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

SEED = 20261202
EXAMPLES = int(os.environ.get("FUZZ_GRPC_EXAMPLES", "10"))
BYTES_EXAMPLES = 5
UNARY_TIMEOUT = 10.0
STREAM_TIMEOUT = 2.0
SERVICE = dapr_pb2.DESCRIPTOR.services_by_name["Dapr"]
METHODS = [m for m in SERVICE.methods if m.name != "Shutdown"]
# What daprd's Go gRPC server answers for a request that is no valid protobuf.
MALFORMED = {grpc.StatusCode.INTERNAL, grpc.StatusCode.INVALID_ARGUMENT}
# daprd retries an actor call whose type no host has for 5 s (DaprBuiltInActorNotFoundRetries, not
# overridable): these methods get a few examples only.
SLOW = {"InvokeActor"}
SLOW_EXAMPLES = 2

# Outcomes of the last run, per method and kind: {"GetState random": {"OK": n, ...}}.
OUTCOMES: dict[str, Counter[str]] = defaultdict(Counter)

_NAMES = [*L.COMPONENTS.values(), *L.SEED_STATE, L.SEED_LOCK_RESOURCE, L.SEED_LOCK_OWNER, L.SEED_JOB,
          "seed-secret", "dapr", L.RUN, *L.SEED_CONFIG]  # fmt: skip
_TEXT = st.one_of(
    st.sampled_from(_NAMES),
    st.just(""),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=8).map(lambda s: s * 20_000),
)
_INT32 = st.one_of(st.integers(-(2**31), 2**31 - 1), st.sampled_from([0, -1, 1, -(2**31), 2**31 - 1]))
_INT64 = st.one_of(st.integers(-(2**63), 2**63 - 1), st.sampled_from([0, -1, -(2**63), 2**63 - 1]))
_UINT32 = st.integers(0, 2**32 - 1)
_UINT64 = st.integers(0, 2**64 - 1)
_SCALARS: dict[int, st.SearchStrategy[Any]] = {
    FieldDescriptor.TYPE_STRING: _TEXT,
    FieldDescriptor.TYPE_BYTES: st.one_of(st.binary(max_size=64), _TEXT.map(str.encode)),
    FieldDescriptor.TYPE_BOOL: st.booleans(),
    FieldDescriptor.TYPE_DOUBLE: st.floats(),
    FieldDescriptor.TYPE_FLOAT: st.floats(width=32),
    FieldDescriptor.TYPE_INT32: _INT32,
    FieldDescriptor.TYPE_SINT32: _INT32,
    FieldDescriptor.TYPE_SFIXED32: _INT32,
    FieldDescriptor.TYPE_INT64: _INT64,
    FieldDescriptor.TYPE_SINT64: _INT64,
    FieldDescriptor.TYPE_SFIXED64: _INT64,
    FieldDescriptor.TYPE_UINT32: _UINT32,
    FieldDescriptor.TYPE_FIXED32: _UINT32,
    FieldDescriptor.TYPE_UINT64: _UINT64,
    FieldDescriptor.TYPE_FIXED64: _UINT64,
    # Proto3 enums are open: any int32, named or not.
    FieldDescriptor.TYPE_ENUM: _INT32,
}
_MAX_DEPTH = 3


def message_class(descriptor: Descriptor) -> Any:
    return message_factory.GetMessageClass(descriptor)


def _field_value(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if field.type in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP):
        return message_strategy(field.message_type, depth + 1)
    if field.type == FieldDescriptor.TYPE_ENUM:
        named = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(named), _INT32)
    return _SCALARS[field.type]


def _is_repeated(field: FieldDescriptor) -> bool:
    # protobuf 7 dropped ``label`` for ``is_repeated``; older releases have only ``label``.
    if hasattr(field, "is_repeated"):
        return bool(field.is_repeated)
    return bool(field.label == FieldDescriptor.LABEL_REPEATED)


def _is_map(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry


@st.composite
def _filled(draw: st.DrawFn, descriptor: Descriptor, depth: int) -> Any:
    msg = message_class(descriptor)()
    if depth > _MAX_DEPTH:
        return msg
    for field in descriptor.fields:
        if not draw(st.booleans()):
            continue
        if _is_map(field):
            key_field = field.message_type.fields_by_name["key"]
            value_field = field.message_type.fields_by_name["value"]
            target = getattr(msg, field.name)
            for _ in range(draw(st.integers(0, 3))):
                key = draw(_SCALARS[key_field.type])
                value = draw(_field_value(value_field, depth))
                if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                    target[key].CopyFrom(value)
                else:
                    target[key] = value
        elif _is_repeated(field):
            getattr(msg, field.name).extend(draw(st.lists(_field_value(field, depth), max_size=3)))
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            getattr(msg, field.name).CopyFrom(draw(_field_value(field, depth)))
        else:
            setattr(msg, field.name, draw(_field_value(field, depth)))
    return msg


def message_strategy(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Any]:
    if descriptor.full_name == "google.protobuf.Any":
        # An Any names its type: a known one, an unknown one, or none, with random bytes.
        return st.builds(
            lambda url, value: message_class(descriptor)(type_url=url, value=value),
            st.sampled_from(["", "type.googleapis.com/google.protobuf.StringValue", "nope/x.Y"]),
            st.binary(max_size=32),
        )
    return _filled(descriptor, depth)


class Caller:
    """Calls any method of the service with raw bytes and reports the status it ended with."""

    def __init__(self, channel: grpc.Channel, live: L.Live) -> None:
        self.channel = channel
        self.metadata = (("dapr-api-token", L.TOKEN),)
        self.live = live

    def served(self, method: MethodDescriptor) -> bool:
        """Whether the sidecar serves the method at all: an empty request (a valid message) answered
        UNIMPLEMENTED means it does not (newer protos list APIs daprd does not serve either); such
        a method may answer UNIMPLEMENTED to anything."""
        return self.call(method, b"")[0] != grpc.StatusCode.UNIMPLEMENTED

    def call(self, method: MethodDescriptor, payload: bytes) -> tuple[grpc.StatusCode, str]:
        path = f"/{SERVICE.full_name}/{method.name}"
        identity = {"request_serializer": None, "response_deserializer": None}
        streaming = method.client_streaming or method.server_streaming
        timeout = STREAM_TIMEOUT if streaming else UNARY_TIMEOUT
        try:
            if not streaming:
                self.channel.unary_unary(path, **identity)(payload, timeout=timeout, metadata=self.metadata)
                return grpc.StatusCode.OK, ""
            if method.client_streaming:
                factory = (self.channel.stream_stream if method.server_streaming
                           else self.channel.stream_unary)  # fmt: skip
                call = factory(path, **identity)(iter([payload]), timeout=timeout, metadata=self.metadata)
            else:
                call = self.channel.unary_stream(path, **identity)(
                    payload, timeout=timeout, metadata=self.metadata
                )
            if method.server_streaming:
                for _ in call:
                    _stop(call)  # an answer came: the stream works; stop it
                    return grpc.StatusCode.OK, ""
            return grpc.StatusCode.OK, ""
        except grpc.RpcError as exc:
            return exc.code(), str(exc.details() or "")


def _stop(call: Any) -> None:
    """Cancels a server stream. Once dapr-ext-workflow is imported in this process with
    opentelemetry-instrumentation-grpc installed, its client instruments every channel, and a
    stream's answers come as a plain generator (no ``cancel``): closing it ends the call."""
    cancel = getattr(call, "cancel", None)
    if callable(cancel):
        cancel()
    else:
        call.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[L.Live]:
    with L.live_sidecar(tmp_path_factory.mktemp("fuzz-grpc")) as sidecar:
        yield sidecar
        report = os.environ.get("FUZZ_GRPC_REPORT")
        if report:
            Path(report).write_text(json.dumps({k: dict(v) for k, v in sorted(OUTCOMES.items())}, indent=1))


@pytest.fixture(scope="module")
def caller(live: L.Live) -> Iterator[Caller]:
    big = 8 * 1024 * 1024
    options = [("grpc.max_send_message_length", big), ("grpc.max_receive_message_length", big)]
    channel = grpc.insecure_channel(f"127.0.0.1:{live.sidecar.grpc_port}", options=options)
    try:
        yield Caller(channel, live)
    finally:
        channel.close()


def after(guard: L.SeedGuard, code: grpc.StatusCode, what: str) -> None:
    if code == grpc.StatusCode.OK:
        guard.accepted()
    else:
        guard.refused(what)


@pytest.fixture(scope="module")
def guard(live: L.Live) -> L.SeedGuard:
    return L.SeedGuard(live)


@pytest.fixture(autouse=True)
def sidecar_survives(live: L.Live) -> Iterator[None]:
    yield
    live.check_survived()


def _check(method: MethodDescriptor, kind: str, code: grpc.StatusCode, details: str, sample: bytes) -> None:
    OUTCOMES[f"{method.name} {kind}"][code.name] += 1
    assert code != grpc.StatusCode.UNKNOWN, (
        f"{method.name} ({kind}): UNKNOWN {details!r} for {sample[:200]!r}"
    )
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        streaming = method.client_streaming or method.server_streaming
        assert streaming, f"{method.name} ({kind}) hung past {UNARY_TIMEOUT}s for {sample[:200]!r}"


def _settings(examples: int) -> Any:
    return hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.name)
def test_random_bytes(method: MethodDescriptor, caller: Caller, guard: L.SeedGuard) -> None:
    request_class = message_class(method.input_type)
    guard.before()
    served = caller.served(method)  # an empty request may succeed and change the seeds
    guard.dirty = True

    @hypothesis.seed(SEED)
    @_settings(SLOW_EXAMPLES if method.name in SLOW else BYTES_EXAMPLES)
    @hypothesis.given(st.binary(min_size=1, max_size=256))
    def run(payload: bytes) -> None:
        guard.before()
        code, details = caller.call(method, payload)
        try:
            request_class.FromString(payload)
            kind = "bytes-parsed"
        except Exception:
            kind = "bytes-malformed"
        _check(method, kind, code, details, payload)
        if kind == "bytes-malformed" and (served or code != grpc.StatusCode.UNIMPLEMENTED):
            assert code in MALFORMED, f"{method.name}: {code.name} {details!r} for malformed {payload!r}"
        after(guard, code, f"{method.name} {payload!r}")

    run()


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.name)
def test_oversized_message(method: MethodDescriptor, caller: Caller, guard: L.SeedGuard) -> None:
    # A valid message: one string field, over the limit (a field of the message or an unknown one).
    payload = (
        b"\x0a"
        + _varint(L.MAX_REQUEST_MB * 1024 * 1024 + 1024)
        + b"x" * (L.MAX_REQUEST_MB * 1024 * 1024 + 1024)
    )
    code, details = caller.call(method, payload)
    OUTCOMES[f"{method.name} oversized"][code.name] += 1
    if code == grpc.StatusCode.UNIMPLEMENTED:
        guard.dirty = True  # the probe's empty request may succeed and change the seeds
        assert not caller.served(method), details
    else:
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, (code, details)


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.name)
def test_random_messages(method: MethodDescriptor, caller: Caller, guard: L.SeedGuard) -> None:
    @hypothesis.seed(SEED)
    @_settings(SLOW_EXAMPLES if method.name in SLOW else EXAMPLES)
    @hypothesis.given(message_strategy(method.input_type))
    def run(message: Any) -> None:
        guard.before()
        payload = message.SerializeToString()
        if len(payload) > L.MAX_REQUEST_MB * 1024 * 1024:
            return  # over the limit: test_oversized_message's case
        code, details = caller.call(method, payload)
        _check(method, "message", code, details, payload)
        after(guard, code, f"{method.name} {message!r:.300}")

    run()


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
