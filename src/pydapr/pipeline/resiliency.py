"""Resiliency policies as interceptors: the one place Dapr's ``targets`` are applied.

- ``OUTBOUND_INVOKE`` (target: the app id): ``targets.apps`` or the ``DefaultApp...`` policies; the
  breaker is per method, so the policy is looked up per call (a dict lookup).
- ``OUTBOUND_COMPONENT`` / ``INBOUND_COMPONENT`` (target: the component name): ``targets.components``
  ``outbound`` / ``inbound``, or the ``Default<Type>Component...`` policies.
- ``OUTBOUND_ACTOR`` (target: the actor type): ``targets.actors`` or the ``DefaultActor...``
  policies; this chain wraps the routing of the call, so what applies here is the retry and the
  circuit breaker (``ActorPolicies.pre_lock``, its breaker per type or per actor id as the target's
  ``circuitBreakerScope``). The timeout applies inside the actor's turn: the host runs the app
  call under ``post_lock`` itself (pydapr.actors.host), on whichever sidecar hosts the actor.

A target without any policy gets no interceptor at all, so its chain stays empty. The built-in
retries (``DaprBuiltIn...``) are not targets: the code that owns the failure they retry asks for
them with ``ResiliencyPolicies.builtin``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydapr.resiliency import Policy, ResiliencyPolicies

from .call import Call, Direction
from .chain import Interceptor, Operation

ComponentType = Callable[[str], str]


class ResiliencySource:
    def __init__(self, policies: ResiliencyPolicies, component_type: ComponentType = lambda _: "") -> None:
        self.policies = policies
        self.component_type = component_type

    def interceptor(self, direction: Direction, target: str) -> Interceptor | None:
        if direction is Direction.OUTBOUND_INVOKE:
            if self.policies.for_app(target).noop:
                return None
            return self._per_method(target)
        if direction is Direction.OUTBOUND_ACTOR:
            if self.policies.for_actor(target).pre_lock.noop:
                return None
            return self._per_actor(target)
        if direction is Direction.OUTBOUND_COMPONENT or direction is Direction.INBOUND_COMPONENT:
            kind = self.component_type(target)
            if direction is Direction.OUTBOUND_COMPONENT:
                policy = self.policies.for_component(target, "outbound", kind)
            else:
                policy = self.policies.for_component(target, "inbound", kind)
            return None if policy.noop else _run_under(policy)
        return None

    def _per_method(self, app_id: str) -> Interceptor:
        for_app = self.policies.for_app

        async def apply(call: Call, proceed: Operation[Any]) -> Any:
            policy = for_app(app_id, call.operation)
            return await policy.run(proceed, classify=call.classify, deadline=call.deadline)

        return apply

    def _per_actor(self, actor_type: str) -> Interceptor:
        for_actor = self.policies.for_actor

        async def apply(call: Call, proceed: Operation[Any]) -> Any:
            policy = for_actor(actor_type, call.instance).pre_lock
            return await policy.run(proceed, classify=call.classify, deadline=call.deadline)

        return apply


def _run_under(policy: Policy) -> Interceptor:
    async def apply(call: Call, proceed: Operation[Any]) -> Any:
        return await policy.run(proceed, classify=call.classify, deadline=call.deadline)

    apply.policy = policy  # type: ignore[attr-defined]  # for callers that report the timeout
    return apply
