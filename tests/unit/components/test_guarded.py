"""The outbound-component interception point: ComponentStore runs a component's operations through
its pipeline chain (Resiliency's ``targets.components``), in process, with no network."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from pydapr.bindings.api import BindingsAPI
from pydapr.bindings.contract import BindingError, InvokeRequest, InvokeResponse, OutputBinding
from pydapr.components.base import ComponentMetadata
from pydapr.errors import DaprError
from pydapr.pipeline import Pipeline
from pydapr.pipeline.resiliency import ResiliencySource
from pydapr.pubsub.contract import PublishRequest, PubSub
from pydapr.resiliency import compile_policies
from pydapr.resources.models import (
    CircuitBreakerPolicy,
    ComponentTargetPolicy,
    Resiliency,
    ResiliencyTargets,
    RetryPolicy,
    TargetPolicy,
)
from pydapr.resources.models import Component as ComponentSpec
from pydapr.secrets.contract import SecretNotFound, SecretStore
from pydapr.sidecar.components import ComponentStore, LoadedComponent, caller_error
from pydapr.state.api import SaveItem, StateAPI, StoreEntry
from pydapr.state.contract import (
    FEATURE_ETAG,
    DeleteRequest,
    ETagMismatch,
    GetRequest,
    Operation,
    SetRequest,
    StateItem,
    StateStore,
)

SRC = Path("resiliency.yaml")


class FlakyStore(StateStore):
    """Fails the next ``failures`` calls, or sleeps ``delay`` seconds, else keeps values in a dict."""

    def __init__(self) -> None:
        self.failures = 0
        self.delay = 0.0
        self.calls = 0
        self.data: dict[str, bytes] = {}

    def features(self) -> frozenset[str]:
        return frozenset({FEATURE_ETAG})

    async def _enter(self) -> None:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failures:
            self.failures -= 1
            raise ConnectionError("store unreachable")

    async def get(self, req: GetRequest) -> StateItem | None:
        await self._enter()
        value = self.data.get(req.key)
        return None if value is None else StateItem(value, "1")

    async def set(self, req: SetRequest) -> None:
        await self._enter()
        if req.etag is not None and req.etag != "1":
            raise ETagMismatch(req.key)
        self.data[req.key] = req.value

    async def delete(self, req: DeleteRequest) -> None:
        await self._enter()
        self.data.pop(req.key, None)

    async def transact(self, ops: Sequence[Operation]) -> None:
        # A native operation built on the store's own methods: one policy for the whole call.
        for op in ops:
            if isinstance(op, SetRequest):
                await self.set(op)
            else:
                await self.delete(op)


class Broker(PubSub):
    def __init__(self) -> None:
        self.calls = 0
        self.failures = 0

    async def publish(self, req: PublishRequest) -> None:
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker down")


class Secrets(SecretStore):
    def __init__(self) -> None:
        self.calls = 0

    async def get_secret(self, key: str, metadata: dict[str, str]) -> dict[str, str]:
        self.calls += 1
        raise SecretNotFound(key)


class Http(OutputBinding):
    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.calls = 0

    def operations(self) -> tuple[str, ...]:
        return ("get",)

    async def invoke(self, request: InvokeRequest) -> InvokeResponse:
        self.calls += 1
        status = self.statuses.pop(0) if self.statuses else 200
        if status >= 400:
            raise BindingError(f"received status code {status}", status=status)
        return InvokeResponse(b"ok")


def _resiliency(**components: ComponentTargetPolicy) -> Resiliency:
    return Resiliency(
        name="r",
        source=SRC,
        timeouts={"short": 0.05},
        retries={"three": RetryPolicy(duration=0.001, max_retries=3)},
        circuit_breakers={
            "cb": CircuitBreakerPolicy(max_requests=1, timeout=0.2, trip="consecutiveFailures > 2")
        },
        targets=ResiliencyTargets(components=components),
    )


def _store(resiliency: Resiliency | None) -> ComponentStore:
    policies = compile_policies([resiliency] if resiliency else [])
    pipeline = Pipeline()
    store = ComponentStore(app_id="app", namespace="default", base_dir=Path("."), pipeline=pipeline)

    def kind(name: str) -> str:
        return next((c.spec.type for c in store.all() if c.name == name), "")

    pipeline.add(ResiliencySource(policies, kind))
    return store


def _add(store: ComponentStore, name: str, type_: str, instance: object) -> None:
    meta = ComponentMetadata(name=name, type=type_, version="v1", app_id="app")
    instance.metadata = meta  # type: ignore[attr-defined]
    spec = ComponentSpec(name=name, type=type_, version="v1", source=SRC)
    store.add(LoadedComponent(spec, meta, instance))  # type: ignore[arg-type]


OUT_RETRY = ComponentTargetPolicy(outbound=TargetPolicy(retry="three"))
OUT_TIMEOUT = ComponentTargetPolicy(outbound=TargetPolicy(timeout="short", retry="three"))
OUT_BREAKER = ComponentTargetPolicy(outbound=TargetPolicy(circuit_breaker="cb"))


def test_a_component_without_a_policy_is_left_untouched() -> None:
    flaky = FlakyStore()
    _add(_store(None), "s", "state.flaky", flaky)
    assert "get" not in vars(flaky)  # the class's method, no wrapper: the hot path costs nothing
    other = FlakyStore()
    _add(_store(_resiliency(elsewhere=OUT_RETRY)), "s", "state.flaky", other)
    assert "get" not in vars(other)


async def test_state_operations_are_retried_and_the_instance_keeps_its_class() -> None:
    flaky = FlakyStore()
    _add(_store(_resiliency(s=OUT_RETRY)), "s", "state.flaky", flaky)
    assert isinstance(flaky, StateStore) and "get" in vars(flaky)
    api = StateAPI({"s": StoreEntry.from_metadata(flaky, flaky.metadata)})
    flaky.failures = 2
    await api.save("s", [SaveItem("k", b"v")])
    assert flaky.calls == 3
    assert (await api.get("s", "k")) == StateItem(b"v", "1")
    flaky.failures = 10
    with pytest.raises(DaprError) as caught:
        await api.get("s", "k")
    assert caught.value.code == "ERR_STATE_GET" and "store unreachable" in caught.value.message
    assert flaky.calls == 4 + 4  # one retried call: the first attempt and three retries


async def test_the_callers_mistakes_are_not_retried() -> None:
    flaky = FlakyStore()
    _add(_store(_resiliency(s=OUT_RETRY)), "s", "state.flaky", flaky)
    api = StateAPI({"s": StoreEntry.from_metadata(flaky, flaky.metadata)})
    with pytest.raises(DaprError) as caught:
        await api.save("s", [SaveItem("k", b"v", etag="7")])
    assert caught.value.http_status == 409  # still the ETag error, not a generic failure
    assert flaky.calls == 1
    assert caller_error("state", ETagMismatch("k")) and caller_error("secretstores", SecretNotFound("x"))
    assert not caller_error("state", ConnectionError("down"))


async def test_a_timeout_is_the_familys_error_with_the_policy_in_the_message() -> None:
    flaky = FlakyStore()
    _add(_store(_resiliency(s=OUT_TIMEOUT)), "s", "state.flaky", flaky)
    api = StateAPI({"s": StoreEntry.from_metadata(flaky, flaky.metadata)})
    flaky.delay = 1.0
    with pytest.raises(DaprError) as caught:
        await api.get("s", "k")
    assert caught.value.code == "ERR_STATE_GET"
    assert "timeout after 0.05s (resiliency)" in caught.value.message
    assert flaky.calls == 4


async def test_a_native_operation_over_the_stores_own_methods_runs_one_policy() -> None:
    flaky = FlakyStore()
    _add(_store(_resiliency(s=OUT_TIMEOUT)), "s", "state.flaky", flaky)
    flaky.failures = 1
    ops: list[Operation] = [SetRequest("a", b"1"), SetRequest("b", b"2")]
    await flaky.transact(ops)
    # The first attempt failed on its first set; the retry ran both sets directly (3 calls, not 2 x 4).
    assert flaky.calls == 3 and flaky.data == {"a": b"1", "b": b"2"}


async def test_the_breaker_opens_fails_fast_then_closes_again() -> None:
    flaky = FlakyStore()
    _add(_store(_resiliency(s=OUT_BREAKER)), "s", "state.flaky", flaky)
    api = StateAPI({"s": StoreEntry.from_metadata(flaky, flaky.metadata)})
    flaky.failures = 100
    for _ in range(3):
        with pytest.raises(DaprError, match="store unreachable"):
            await api.get("s", "k")
    with pytest.raises(DaprError) as caught:
        await api.get("s", "k")
    assert "circuit breaker is open" in caught.value.message and flaky.calls == 3
    await asyncio.sleep(0.25)  # the breaker's timeout: half-open
    flaky.failures = 0
    assert await api.get("s", "missing") is None  # the trial succeeds: closed again
    assert await api.get("s", "missing") is None
    assert flaky.calls == 5


async def test_caller_errors_do_not_trip_the_breaker() -> None:
    flaky = FlakyStore()
    _add(_store(_resiliency(s=OUT_BREAKER)), "s", "state.flaky", flaky)
    for _ in range(5):
        with pytest.raises(ETagMismatch):
            await flaky.set(SetRequest("k", b"v", etag="9"))
    assert await flaky.get(GetRequest("k")) is None  # not refused: the breaker never opened
    assert flaky.calls == 6


async def test_the_default_bulk_publish_applies_the_policy_once_per_entry() -> None:
    from pydapr.pubsub.contract import BulkPublishEntry

    broker = Broker()
    _add(_store(_resiliency(p=OUT_RETRY)), "p", "pubsub.fake", broker)
    assert "bulk_publish" not in vars(broker) and "publish" in vars(broker)
    broker.failures = 2
    failures = await broker.bulk_publish("t", [BulkPublishEntry(str(i), b"x") for i in range(3)], {})
    assert failures == [] and broker.calls == 5  # three entries, two of their attempts failed


async def test_a_missing_secret_is_not_retried() -> None:
    secrets = Secrets()
    _add(_store(_resiliency(sec=OUT_RETRY)), "sec", "secretstores.fake", secrets)
    with pytest.raises(SecretNotFound):
        await secrets.get_secret("x", {})
    assert secrets.calls == 1


async def test_a_binding_answering_5xx_is_retried_a_4xx_is_not() -> None:
    http = Http()
    _add(_store(_resiliency(b=OUT_RETRY)), "b", "bindings.fake", http)
    api = BindingsAPI({"b": http})
    http.statuses = [503, 502]
    assert (await api.invoke("b", InvokeRequest("get"))).data == b"ok"
    assert http.calls == 3
    http.statuses = [404]
    with pytest.raises(DaprError, match="received status code 404"):
        await api.invoke("b", InvokeRequest("get"))
    assert http.calls == 4
    http.statuses = [500] * 10
    with pytest.raises(DaprError, match="received status code 500"):  # the binding's own error
        await api.invoke("b", InvokeRequest("get"))


async def test_type_defaults_apply_to_a_component_without_a_target() -> None:
    resiliency = Resiliency(
        name="d",
        source=SRC,
        retries={"DefaultStatestoreComponentOutboundRetryPolicy": RetryPolicy(duration=0.001, max_retries=2)},
    )
    flaky, broker = FlakyStore(), Broker()
    store = _store(resiliency)
    _add(store, "s", "state.flaky", flaky)
    _add(store, "p", "pubsub.fake", broker)
    assert "get" in vars(flaky) and "publish" not in vars(broker)  # the default is the state stores'
    flaky.failures = 2
    await flaky.get(GetRequest("k"))
    assert flaky.calls == 3


async def test_publish_and_subtle_crypto_report_the_policy_in_their_errors() -> None:
    from types import SimpleNamespace

    from pydapr.crypto.api import CryptoAPI
    from pydapr.crypto.contract import SubtleCrypto
    from pydapr.pubsub.api import PubSubAPI

    class SlowBroker(Broker):
        async def publish(self, req: PublishRequest) -> None:
            await asyncio.sleep(1)

    class SlowCrypto(SubtleCrypto):
        async def encrypt(
            self, plaintext: bytes, algorithm: str, key_name: str, nonce: bytes, associated_data: bytes
        ) -> tuple[bytes, bytes]:
            await asyncio.sleep(1)
            return b"", b""

    quick = ComponentTargetPolicy(outbound=TargetPolicy(timeout="short"))
    store = _store(_resiliency(p=quick, c=quick))
    broker, crypto = SlowBroker(), SlowCrypto()
    _add(store, "p", "pubsub.fake", broker)
    _add(store, "c", "crypto.fake", crypto)
    with pytest.raises(DaprError) as caught:
        await PubSubAPI(lambda: {"p": broker}, "app").publish("p", "t", b"{}", "application/json", {})
    assert caught.value.code == "ERR_PUBSUB_PUBLISH_MESSAGE"
    assert "timeout after 0.05s (resiliency)" in caught.value.message
    request = SimpleNamespace(
        component_name="c", plaintext=b"x", algorithm="A256GCM", key_name="k", nonce=b"", associated_data=b""
    )
    with pytest.raises(DaprError, match=r"failed to encrypt: timeout after 0\.05s \(resiliency\)"):
        await CryptoAPI({"c": crypto}).subtle_encrypt(request)
