"""Dapr's resiliency metrics after real policy runs: a Resiliency resource loaded from YAML, calls
through the pipeline's Resiliency interceptor, the registry read as a scrape would."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from pydapr.observability.metrics.registry import REGISTRY
from pydapr.pipeline import Call, Direction, Pipeline
from pydapr.pipeline.resiliency import ResiliencySource
from pydapr.resiliency import BuiltIn, CircuitBreakerOpen, PolicyTimeout, compile_policies
from pydapr.resources import load_resources

RESILIENCY = """\
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: {name}
  namespace: ns1
spec:
  policies:
    timeouts:
      quick: 50ms
    retries:
      twice:
        policy: constant
        duration: 1ms
        maxRetries: 2
    circuitBreakers:
      fragile:
        maxRequests: 1
        timeout: 60s
        trip: consecutiveFailures >= 2
  targets:
    apps:
      {target}:
        timeout: quick
        retry: twice
      {breaker_target}:
        circuitBreaker: fragile
    components:
      {store}:
        outbound:
          retry: twice
"""


def sample(metric: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(metric, labels) or 0.0


class Setup:
    def __init__(self, tmp_path: Path) -> None:
        tag = uuid.uuid4().hex[:8]
        self.app_id = f"caller-{tag}"
        self.name = f"res-{tag}"
        self.target = f"orders-{tag}"
        self.breaker_target = f"flaky-{tag}"
        self.store = f"store-{tag}"
        (tmp_path / "resiliency.yaml").write_text(
            RESILIENCY.format(
                name=self.name, target=self.target, breaker_target=self.breaker_target, store=self.store
            )
        )
        resources = load_resources([tmp_path], app_id=self.app_id)
        self.policies = compile_policies(resources.resiliencies, app_id=self.app_id)
        self.pipeline = Pipeline([ResiliencySource(self.policies, lambda _: "state.redis")])

    def labels(self, policy: str, target: str, status: str = "", direction: str = "outbound") -> dict:
        return {
            "app_id": self.app_id,
            "name": self.name,
            "policy": policy,
            "namespace": "ns1",
            "flow_direction": direction,
            "target": target,
            "status": status,
        }

    async def invoke(self, app_id: str, operation: object) -> object:
        chain = self.pipeline.chain(Direction.OUTBOUND_INVOKE, app_id)
        return await chain.run(Call(Direction.OUTBOUND_INVOKE, app_id, "method"), operation)  # type: ignore[arg-type]


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path)


def test_each_resource_loaded_is_counted_once(setup: Setup) -> None:
    labels = {"app_id": setup.app_id, "name": setup.name, "namespace": "ns1"}
    assert sample("dapr_resiliency_loaded", labels) == 1.0


async def test_a_call_counts_each_policy_kind_its_target_has(setup: Setup) -> None:
    async def ok() -> str:
        return "ok"

    for _ in range(3):
        assert await setup.invoke(setup.target, ok) == "ok"
    target = f"app_{setup.target}"
    assert sample("dapr_resiliency_count", setup.labels("timeout", target)) == 3.0
    assert sample("dapr_resiliency_count", setup.labels("retry", target)) == 3.0
    assert sample("dapr_resiliency_count", setup.labels("circuitbreaker", target, "closed")) == 0.0
    # Nothing failed: no policy was activated.
    assert sample("dapr_resiliency_activations_total", setup.labels("retry", target)) == 0.0
    assert sample("dapr_resiliency_activations_total", setup.labels("timeout", target)) == 0.0


async def test_retries_and_a_timeout_are_activations(setup: Setup) -> None:
    async def hangs() -> None:
        await asyncio.sleep(5)

    with pytest.raises(PolicyTimeout):
        await setup.invoke(setup.target, hangs)  # three attempts, each timed out
    target = f"app_{setup.target}"
    assert sample("dapr_resiliency_count", setup.labels("retry", target)) == 1.0
    assert sample("dapr_resiliency_activations_total", setup.labels("retry", target)) == 2.0
    # Once per call however many attempts timed out, as daprd counts it.
    assert sample("dapr_resiliency_activations_total", setup.labels("timeout", target)) == 1.0


async def test_a_breaker_opening_is_an_activation_and_its_state_a_gauge(setup: Setup) -> None:
    async def down() -> None:
        raise ConnectionError("down")

    for _ in range(2):
        with pytest.raises(ConnectionError):
            await setup.invoke(setup.breaker_target, down)
    with pytest.raises(CircuitBreakerOpen):
        await setup.invoke(setup.breaker_target, down)
    target = f"app_{setup.breaker_target}"
    # Each call counted with the breaker's state as it started: two closed, one open.
    assert sample("dapr_resiliency_count", setup.labels("circuitbreaker", target, "closed")) == 2.0
    assert sample("dapr_resiliency_count", setup.labels("circuitbreaker", target, "open")) == 1.0
    assert sample("dapr_resiliency_activations_total", setup.labels("circuitbreaker", target, "open")) == 1.0
    states = {
        s: sample("dapr_resiliency_cb_state", setup.labels("circuitbreaker", target, s))
        for s in ("closed", "half-open", "open", "unknown")
    }
    assert states == {"closed": 0.0, "half-open": 0.0, "open": 1.0, "unknown": 0.0}


async def test_a_component_target_is_labelled_with_daprs_component_type(setup: Setup) -> None:
    chain = setup.pipeline.chain(Direction.OUTBOUND_COMPONENT, setup.store)
    attempts = 0

    async def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionError("once")
        return "stored"

    assert await chain.run(Call(Direction.OUTBOUND_COMPONENT, setup.store, "set"), flaky) == "stored"
    target = f"Statestore_{setup.store}"
    assert sample("dapr_resiliency_count", setup.labels("retry", target)) == 1.0
    assert sample("dapr_resiliency_activations_total", setup.labels("retry", target)) == 1.0


async def test_built_in_retries_are_not_counted(setup: Setup) -> None:
    attempts = 0

    async def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionError("once")
        return "ok"

    policy = setup.policies.builtin(BuiltIn.SERVICE)
    assert await policy.run(flaky) == "ok"
    assert sample("dapr_resiliency_count", setup.labels("retry", BuiltIn.SERVICE.value)) == 0.0
    families = {m.name for m in REGISTRY.collect()}
    assert "dapr_resiliency_count" in families


def test_without_metrics_nothing_is_recorded(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    (tmp_path / "r.yaml").write_text(
        RESILIENCY.format(name=f"off-{tag}", target="a", breaker_target="b", store="c")
    )
    resources = load_resources([tmp_path], app_id=f"off-{tag}")
    policies = compile_policies(resources.resiliencies, app_id=f"off-{tag}", metrics=None)
    assert policies.for_app("a", "m").metrics is None
    labels = {"app_id": f"off-{tag}", "name": f"off-{tag}", "namespace": "ns1"}
    assert sample("dapr_resiliency_loaded", labels) == 0.0
