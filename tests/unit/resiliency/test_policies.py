"""Compiling Resiliency resources: built-ins, overrides, defaults, targets, merging, scopes."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pydapr.resiliency import (
    NOOP,
    BreakerState,
    BuiltIn,
    CodeRanges,
    PolicyEvent,
    ResiliencyError,
    RetrySchedule,
    compile_policies,
)
from pydapr.resources import load_resources
from pydapr.resources.models import (
    CircuitBreakerPolicy,
    ComponentTargetPolicy,
    Resiliency,
    ResiliencyTargets,
    RetryPolicy,
    TargetPolicy,
)

from .fakes import FakeTime

SRC = Path("resiliency.yaml")
FAST = RetryPolicy(duration=0.01, max_retries=3)
FOREVER = RetryPolicy(policy="exponential", max_interval=10.0, max_retries=-1)
CB = CircuitBreakerPolicy(max_requests=1, interval=8.0, timeout=45.0, trip="consecutiveFailures > 1")


def res(name: str = "r", **kwargs: object) -> Resiliency:
    return Resiliency(name=name, source=SRC, **kwargs)  # type: ignore[arg-type]


def constant(duration: float, retries: int) -> RetrySchedule:
    return RetrySchedule(duration=duration, max_retries=retries)


# --- built-in retries ---------------------------------------------------------------------------


def test_no_resources_means_no_policies_but_the_built_ins() -> None:
    policies = compile_policies([])
    assert policies.for_app("b", "m") is NOOP
    assert policies.for_component("store", "outbound", "state.redis") is NOOP
    actor = policies.for_actor("Cart", "1")
    assert actor.pre_lock is NOOP and actor.post_lock is NOOP
    assert not policies.has_target("app", "b")
    assert policies.builtin(BuiltIn.SERVICE).retry == constant(1.0, 3)


def test_built_in_retries_are_daprs() -> None:
    p = compile_policies([])
    assert p.builtin(BuiltIn.SERVICE).retry == constant(1.0, 3)
    assert p.builtin(BuiltIn.ACTOR).retry == constant(1.0, 3)
    assert p.builtin(BuiltIn.ACTOR_NOT_FOUND).retry == constant(1.0, 5)
    assert p.builtin(BuiltIn.ACTOR_REMINDER).retry == RetrySchedule(
        exponential=True,
        initial_interval=0.5,
        randomization=0.5,
        multiplier=1.5,
        max_interval=60.0,
        max_elapsed=900.0,
    )
    init = p.builtin(BuiltIn.INITIALIZATION).retry
    assert init is not None
    assert (init.exponential, init.max_retries, init.max_interval, init.max_elapsed) == (True, 3, 1.0, 10.0)
    assert p.builtin(BuiltIn.SERVICE).timeout == 0.0 and p.builtin(BuiltIn.SERVICE).breaker is None


def test_a_retry_policy_named_like_a_built_in_overrides_it() -> None:
    p = compile_policies(
        [res(retries={"DaprBuiltInServiceRetries": RetryPolicy(duration=2.0, max_retries=10)})]
    )
    assert p.builtin(BuiltIn.SERVICE).retry == constant(2.0, 10)
    assert p.builtin(BuiltIn.ACTOR).retry == constant(1.0, 3)


def test_a_built_in_override_may_not_retry_fewer_than_3_times(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "pydapr.resiliency"):
        p = compile_policies(
            [res(retries={"DaprBuiltInActorRetries": RetryPolicy(duration=2.0, max_retries=1)})]
        )
    assert p.builtin(BuiltIn.ACTOR).retry == constant(2.0, 3)
    assert "may not retry fewer than 3 times" in caplog.text


def test_a_built_in_override_retrying_forever_is_kept() -> None:
    p = compile_policies(
        [res(retries={"DaprBuiltInActorRetries": RetryPolicy(duration=2.0, max_retries=-1)})]
    )
    assert p.builtin(BuiltIn.ACTOR).retry == constant(2.0, -1)


def test_actor_not_found_retries_are_protected(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "pydapr.resiliency"):
        p = compile_policies([res(retries={"DaprBuiltInActorNotFoundRetries": RetryPolicy(max_retries=50)})])
    assert p.builtin(BuiltIn.ACTOR_NOT_FOUND).retry == constant(1.0, 5)
    assert "cannot be overridden" in caplog.text


def test_user_exponential_policies_get_dapr_kit_defaults() -> None:
    p = compile_policies(
        [res(retries={"exp": FOREVER}, targets=ResiliencyTargets(apps={"b": TargetPolicy(retry="exp")}))]
    )
    assert p.for_app("b").retry == RetrySchedule(
        exponential=True,
        initial_interval=0.5,
        randomization=0.5,
        multiplier=1.5,
        max_interval=10.0,
        max_elapsed=900.0,
    )


# --- apps ---------------------------------------------------------------------------------------


def app_resources(cache_size: int = 100) -> Resiliency:
    return res(
        timeouts={"general": 5.0},
        retries={"fast": FAST},
        circuit_breakers={"cb": CB},
        targets=ResiliencyTargets(
            apps={
                "b": TargetPolicy(
                    timeout="general",
                    retry="fast",
                    circuit_breaker="cb",
                    circuit_breaker_cache_size=cache_size,
                ),
                "c": TargetPolicy(retry="fast"),
            }
        ),
    )


def test_an_app_target_gets_exactly_the_policies_it_names() -> None:
    p = compile_policies([app_resources()])
    b = p.for_app("b", "orders")
    assert (b.timeout, b.retry, b.target, b.direction) == (5.0, constant(0.01, 3), "app_b", "outbound")
    assert b.breaker is not None
    assert (b.breaker.max_requests, b.breaker.interval, b.breaker.timeout) == (1, 8.0, 45.0)
    assert b.breaker.trip.text == "consecutiveFailures > 1"
    c = p.for_app("c", "x")
    assert (c.timeout, c.retry, c.breaker) == (0.0, constant(0.01, 3), None)
    assert p.for_app("c", "x") is c  # no breaker: one value for the target
    assert p.has_target("app", "b") and not p.has_target("app", "d")
    assert p.for_app("d") is NOOP


def test_app_breakers_are_per_method_as_dapr() -> None:
    p = compile_policies([app_resources()])
    first = p.for_app("b", "orders").breaker
    assert p.for_app("b", "orders").breaker is first
    assert p.for_app("b", "stock").breaker is not first


def test_app_breakers_live_in_an_lru_of_circuit_breaker_cache_size() -> None:
    p = compile_policies([app_resources(cache_size=2)])
    m1 = p.for_app("b", "m1").breaker
    m2 = p.for_app("b", "m2").breaker
    assert p.for_app("b", "m1").breaker is m1  # m1 now most recent
    p.for_app("b", "m3")  # evicts m2
    assert p.for_app("b", "m1").breaker is m1
    assert p.for_app("b", "m2").breaker is not m2


def test_default_app_policies_apply_to_apps_without_a_target() -> None:
    p = compile_policies(
        [
            res(
                timeouts={"DefaultTimeoutPolicy": 3.0},
                retries={"DefaultRetryPolicy": constant_policy(1.0, 3), "DefaultAppRetryPolicy": FAST},
                circuit_breakers={"DefaultAppCircuitBreakerPolicy": CB},
                targets=ResiliencyTargets(apps={"named": TargetPolicy(retry="DefaultRetryPolicy")}),
            )
        ]
    )
    other = p.for_app("other", "m")
    assert (other.timeout, other.retry, other.target) == (3.0, constant(0.01, 3), "app_other")
    assert other.breaker is not None and other.breaker is p.for_app("other", "m").breaker
    # A named target uses only what it names: no default timeout or breaker fills its gaps.
    named = p.for_app("named", "m")
    assert (named.timeout, named.retry, named.breaker) == (0.0, constant(1.0, 3), None)


def constant_policy(duration: float, retries: int) -> RetryPolicy:
    return RetryPolicy(duration=duration, max_retries=retries)


# --- components ---------------------------------------------------------------------------------


def test_component_targets_have_inbound_and_outbound_policies() -> None:
    p = compile_policies(
        [
            res(
                timeouts={"t": 2.0},
                retries={"fast": FAST},
                circuit_breakers={"cb": CB},
                targets=ResiliencyTargets(
                    components={
                        "pubsub": ComponentTargetPolicy(
                            inbound=TargetPolicy(retry="fast"),
                            outbound=TargetPolicy(timeout="t", circuit_breaker="cb"),
                        )
                    }
                ),
            )
        ]
    )
    inbound = p.for_component("pubsub", "inbound", "pubsub.redis")
    outbound = p.for_component("pubsub", "outbound", "pubsub.redis")
    assert (inbound.retry, inbound.timeout, inbound.breaker, inbound.direction) == (
        constant(0.01, 3),
        0.0,
        None,
        "inbound",
    )
    assert (outbound.retry, outbound.timeout, outbound.target) == (None, 2.0, "Pubsub_pubsub")
    assert outbound.breaker is not None and p.for_component("pubsub", "outbound").breaker is outbound.breaker
    assert p.has_target("component", "pubsub")


def test_component_defaults_from_most_to_least_specific() -> None:
    retries = {
        "DefaultRetryPolicy": constant_policy(1.0, 1),
        "DefaultComponentRetryPolicy": constant_policy(2.0, 2),
        "DefaultComponentOutboundRetryPolicy": constant_policy(3.0, 3),
        "DefaultStatestoreComponentOutboundRetryPolicy": constant_policy(4.0, 4),
    }
    p = compile_policies([res(retries=retries)])
    assert p.for_component("store", "outbound", "state.redis").retry == constant(4.0, 4)
    assert p.for_component("store", "outbound", "Statestore").retry == constant(4.0, 4)
    assert p.for_component("broker", "outbound", "pubsub.kafka").retry == constant(3.0, 3)
    assert p.for_component("broker", "inbound", "pubsub.kafka").retry == constant(2.0, 2)
    assert p.for_component("store", "outbound").retry == constant(3.0, 3)
    del retries["DefaultComponentRetryPolicy"]
    p = compile_policies([res(retries=retries)])
    assert p.for_component("broker", "inbound", "pubsub.kafka").retry == constant(1.0, 1)


def test_each_default_kind_is_looked_up_on_its_own() -> None:
    p = compile_policies(
        [
            res(
                timeouts={"DefaultComponentTimeoutPolicy": 9.0},
                retries={"DefaultPubsubComponentInboundRetryPolicy": FAST},
            )
        ]
    )
    policy = p.for_component("broker", "inbound", "pubsub.redis")
    assert (policy.timeout, policy.retry, policy.target) == (9.0, constant(0.01, 3), "Pubsub_broker")
    assert p.for_component("broker", "outbound", "pubsub.redis").retry is None


def test_component_breakers_are_per_component_and_direction() -> None:
    p = compile_policies([res(circuit_breakers={"DefaultComponentCircuitBreakerPolicy": CB})])
    a_out = p.for_component("a", "outbound", "state.redis").breaker
    assert a_out is not None
    assert p.for_component("a", "outbound", "state.redis").breaker is a_out
    assert p.for_component("a", "inbound", "state.redis").breaker is not a_out
    assert p.for_component("b", "outbound", "state.redis").breaker is not a_out


# --- actors -------------------------------------------------------------------------------------


def actor_resources(scope: str) -> Resiliency:
    return res(
        timeouts={"t": 4.0},
        retries={"fast": FAST},
        circuit_breakers={"cb": CB},
        targets=ResiliencyTargets(
            actors={
                "Cart": TargetPolicy(
                    timeout="t", retry="fast", circuit_breaker="cb", circuit_breaker_scope=scope
                )
            }
        ),
    )


def test_actor_policies_split_at_the_turn_lock_as_dapr() -> None:
    p = compile_policies([actor_resources("type")])
    cart = p.for_actor("Cart", "1")
    assert (cart.pre_lock.retry, cart.pre_lock.timeout, cart.pre_lock.target) == (
        constant(0.01, 3),
        0.0,
        "actor_Cart",
    )
    assert cart.pre_lock.breaker is not None
    assert (cart.post_lock.timeout, cart.post_lock.retry, cart.post_lock.breaker) == (4.0, None, None)
    assert p.has_target("actor", "Cart")


def test_actor_breaker_scope_type_shares_one_breaker() -> None:
    p = compile_policies([actor_resources("type")])
    assert p.for_actor("Cart", "1").pre_lock.breaker is p.for_actor("Cart", "2").pre_lock.breaker


@pytest.mark.parametrize("scope", ["id", "both"])
def test_actor_breaker_scope_id_has_one_per_actor(scope: str) -> None:
    p = compile_policies([actor_resources(scope)])
    one = p.for_actor("Cart", "1").pre_lock.breaker
    assert one is p.for_actor("Cart", "1").pre_lock.breaker
    assert one is not p.for_actor("Cart", "2").pre_lock.breaker


def test_default_actor_policies() -> None:
    p = compile_policies(
        [
            res(
                timeouts={"DefaultActorTimeoutPolicy": 6.0},
                retries={"DefaultActorRetryPolicy": FAST},
                circuit_breakers={"DefaultCircuitBreakerPolicy": CB},
            )
        ]
    )
    summary = p.for_actor("Summary", "1")
    assert (summary.pre_lock.retry, summary.pre_lock.timeout) == (constant(0.01, 3), 0.0)
    assert summary.post_lock.timeout == 6.0
    assert summary.pre_lock.breaker is not None
    assert summary.pre_lock.breaker is p.for_actor("Summary", "2").pre_lock.breaker


# --- merging, scopes, errors, events ----------------------------------------------------------


def test_later_resources_override_policies_and_targets_by_name() -> None:
    first = res(
        "first",
        retries={"fast": FAST},
        timeouts={"t": 1.0},
        targets=ResiliencyTargets(apps={"b": TargetPolicy(retry="fast"), "c": TargetPolicy(timeout="t")}),
    )
    second = res(
        "second",
        retries={"fast": constant_policy(0.2, 7)},
        timeouts={"t2": 2.0},
        targets=ResiliencyTargets(apps={"c": TargetPolicy(timeout="t2")}),
    )
    p = compile_policies([first, second])
    assert p.for_app("b").retry == constant(0.2, 7)  # the name now means the later policy
    assert p.for_app("c").timeout == 2.0
    assert p.name == "second"


def test_a_target_may_name_a_policy_of_another_resource() -> None:
    policies = res("policies", retries={"shared": FAST})
    targets = res("targets", targets=ResiliencyTargets(apps={"b": TargetPolicy(retry="shared")}))
    assert compile_policies([policies, targets]).for_app("b").retry == constant(0.01, 3)


def test_scoped_resources_apply_only_to_their_apps() -> None:
    scoped = res(scopes=("other",), retries={"DefaultRetryPolicy": FAST})
    assert compile_policies([scoped], app_id="me").for_app("b") is NOOP
    assert compile_policies([scoped], app_id="other").for_app("b").retry == constant(0.01, 3)


def test_invalid_matching_and_trip_are_refused_with_the_file_named() -> None:
    bad_range = res(retries={"r": RetryPolicy(matching_http_codes="599-500")})
    with pytest.raises(
        ResiliencyError, match=r'resiliency.yaml: Resiliency "r": retry r: matching: "599-500" ends'
    ):
        compile_policies([bad_range])
    bad_trip = res(circuit_breakers={"cb": CircuitBreakerPolicy(trip="requests >")})
    with pytest.raises(ResiliencyError, match="circuit breaker cb: trip expression"):
        compile_policies([bad_trip])


def test_matching_codes_are_compiled_into_the_schedule() -> None:
    retry = RetryPolicy(
        duration=1.0, max_retries=2, matching_http_codes="429,500-599", matching_grpc_codes="14"
    )
    p = compile_policies([res(retries={"DefaultRetryPolicy": retry})])
    schedule = p.for_app("b").retry
    assert schedule is not None
    assert (schedule.http_codes, schedule.grpc_codes) == (
        CodeRanges("429,500-599", 100, 599),
        CodeRanges("14", 0, 16),
    )
    assert schedule.matches(503, None) and not schedule.matches(404, None) and not schedule.matches(None, 13)


async def test_breaker_state_changes_reach_the_event_callback() -> None:
    fake = FakeTime()
    events: list[PolicyEvent] = []
    cb = CircuitBreakerPolicy(timeout=10.0, trip="consecutiveFailures >= 1")
    p = compile_policies(
        [
            res(
                circuit_breakers={"cb": cb},
                targets=ResiliencyTargets(apps={"b": TargetPolicy(circuit_breaker="cb")}),
            )
        ],
        timing=fake.timing(),
        on_event=events.append,
    )
    policy = p.for_app("b", "m")

    async def down() -> None:
        raise ConnectionError

    with pytest.raises(ConnectionError):
        await policy.run(down)
    assert policy.breaker is not None and policy.breaker.state is BreakerState.OPEN
    assert events == [
        PolicyEvent("circuit_breaker", "app_b", "outbound", state="open", previous_state="closed")
    ]


# --- Dapr's documented example, read from YAML ------------------------------------------------

DOCS_EXAMPLE = """\
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: myresiliency
spec:
  policies:
    retries:
      DefaultRetryPolicy:
        policy: constant
        duration: 1s
        maxRetries: 3
      DefaultAppRetryPolicy:
        policy: constant
        duration: 100ms
        maxRetries: 5
      DefaultActorRetryPolicy:
        policy: exponential
        maxInterval: 15s
        maxRetries: 10
      DefaultComponentInboundRetryPolicy:
        policy: constant
        duration: 5s
        maxRetries: 5
      DefaultStatestoreComponentOutboundRetryPolicy:
        policy: exponential
        maxInterval: 60s
        maxRetries: -1
      fastRetries:
        policy: constant
        duration: 10ms
        maxRetries: 3
      retryForever:
        policy: exponential
        maxInterval: 10s
        maxRetries: -1
        matching:
          httpStatusCodes: "429,500-599"
          gRPCStatusCodes: "1-4,8-11,13,14"
  targets:
    apps:
      appA:
        retry: fastRetries
      appB:
        retry: retryForever
    actors:
      EventActor:
        retry: retryForever
    components:
      actorstore:
        outbound:
          retry: fastRetries
"""


def test_daprs_default_policy_example_resolves_as_its_table(tmp_path: Path) -> None:
    (tmp_path / "resiliency.yaml").write_text(DOCS_EXAMPLE)
    resources = load_resources([tmp_path], app_id="appA")
    p = compile_policies(resources.resiliencies, app_id="appA")
    retries = p.retries
    assert p.for_app("appA").retry == constant(0.01, 3)
    assert p.for_app("appB").retry is retries["retryForever"]
    assert p.for_app("appC").retry == constant(0.1, 5)
    assert p.for_component("pubsub", "outbound", "pubsub.redis").retry == constant(1.0, 3)
    assert p.for_component("pubsub", "inbound", "pubsub.redis").retry == constant(5.0, 5)
    assert (
        p.for_component("statestore", "outbound", "state.redis").retry
        is retries["DefaultStatestoreComponentOutboundRetryPolicy"]
    )
    assert p.for_component("actorstore", "outbound", "state.cosmosdb").retry == constant(0.01, 3)
    assert p.for_actor("EventActor", "1").pre_lock.retry is retries["retryForever"]
    assert p.for_actor("SummaryActor", "1").pre_lock.retry is retries["DefaultActorRetryPolicy"]
    forever = retries["retryForever"]
    assert forever.matches(503, None) and forever.matches(429, None) and not forever.matches(404, None)
    assert forever.matches(None, 14) and not forever.matches(None, 5)
