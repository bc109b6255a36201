"""Resiliency resources compiled once at startup into lookups: which policy applies to which target.

As Dapr's pkg/resiliency/resiliency.go: the built-in retries are defined first, then every resource
is merged in order, so a later policy or target of the same name replaces an earlier one; a target
names its policies by name across all resources. A target with a named entry uses exactly what it
names. Any other target falls back to the ``Default...Policy`` names, each of timeout, retry and
circuit breaker looked up on its own from the most specific name to ``DefaultRetryPolicy`` etc.
"""

from __future__ import annotations

import enum
import logging
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Literal, Protocol

import msgspec

from pydapr.resources.models import CircuitBreakerPolicy, Resiliency, RetryPolicy, TargetPolicy

from .backoff import RetrySchedule
from .breaker import BreakerState, CircuitBreaker, TripRule, compile_trip
from .outcome import CodeRanges
from .policy import DEFAULT_TIMING, EventSink, Policy, PolicyEvent, PolicyMetrics, Timing

__all__ = [
    "BUILT_IN_RETRIES",
    "ActorPolicies",
    "BuiltIn",
    "ResiliencyError",
    "ResiliencyPolicies",
    "compile_policies",
]

log = logging.getLogger("pydapr.resiliency")

Direction = Literal["inbound", "outbound"]
TargetKind = Literal["app", "actor", "component"]


class ResiliencyMetrics(PolicyMetrics, Protocol):
    """Dapr's resiliency metrics for one sidecar: the policy runs' part, resources loaded, breakers moving."""

    def loaded(self, name: str, namespace: str) -> None: ...

    def breaker_changed(self, target: str, direction: str, state: str) -> None: ...


class ResiliencyError(ValueError):
    """A Resiliency resource that cannot be applied (a code range or trip expression is invalid)."""


class BuiltIn(enum.StrEnum):
    SERVICE = "DaprBuiltInServiceRetries"
    ACTOR = "DaprBuiltInActorRetries"
    ACTOR_REMINDER = "DaprBuiltInActorReminderRetries"
    ACTOR_NOT_FOUND = "DaprBuiltInActorNotFoundRetries"
    INITIALIZATION = "DaprBuiltInInitializationRetries"


BUILT_IN_RETRIES: dict[str, RetrySchedule] = {
    # Sidecar-to-sidecar invocation; the caller retries only UNAVAILABLE and UNAUTHENTICATED.
    BuiltIn.SERVICE: RetrySchedule(duration=1.0, max_retries=3),
    BuiltIn.ACTOR: RetrySchedule(duration=1.0, max_retries=3),
    # Dapr's literal leaves maxRetries at Go's zero (no retry at all); its docs promise retries for
    # 15 minutes, which is what this does.
    BuiltIn.ACTOR_REMINDER: RetrySchedule(exponential=True, max_interval=60.0, max_elapsed=900.0),
    BuiltIn.INITIALIZATION: RetrySchedule(
        exponential=True, max_interval=1.0, max_elapsed=10.0, max_retries=3, duration=2.0
    ),
    BuiltIn.ACTOR_NOT_FOUND: RetrySchedule(duration=1.0, max_retries=5),
}
_PROTECTED = frozenset({BuiltIn.ACTOR_NOT_FOUND})
_MIN_BUILT_IN_RETRIES = 3

# Dapr's component type names for default policies, by the family prefix of a component's type.
_COMPONENT_TYPES = {
    "state": "Statestore",
    "pubsub": "Pubsub",
    "bindings": "Binding",
    "secretstores": "Secretstore",
    "configuration": "Configuration",
    "lock": "Lock",
    "crypto": "Crypto",
}
_DEFAULT_APP_CACHE = 100  # Dapr's cache size for breakers a default policy creates, apps and actors


class ActorPolicies(msgspec.Struct, frozen=True):
    """An actor call's policies: retry and breaker before the turn lock, the timeout inside it."""

    pre_lock: Policy
    post_lock: Policy


NOOP = Policy()
_NOOP_ACTOR = ActorPolicies(NOOP, NOOP)


class _Breaker(msgspec.Struct, frozen=True):
    name: str
    spec: CircuitBreakerPolicy
    trip: TripRule


class _Names(msgspec.Struct, frozen=True):
    timeout: float
    retry: RetrySchedule | None
    breaker: _Breaker | None


class _LRU(OrderedDict[str, Policy]):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def get_policy(self, key: str) -> Policy | None:
        policy = self.get(key)
        if policy is not None:
            self.move_to_end(key)
        return policy

    def put(self, key: str, policy: Policy) -> None:
        self[key] = policy
        if len(self) > self.size:
            self.popitem(last=False)


class _Target:
    """One target's policy: a fixed value, or one per breaker key when it has a breaker."""

    __slots__ = ("_breakers", "_fixed", "_make", "direction", "label", "names")

    def __init__(
        self, owner: ResiliencyPolicies, label: str, direction: Direction, names: _Names, cache_size: int
    ) -> None:
        self.label = label
        self.direction = direction
        self.names = names
        self._make = owner._policy
        self._fixed = None if names.breaker is not None else owner._policy(label, direction, names, None)
        self._breakers = _LRU(cache_size or _DEFAULT_APP_CACHE)

    def policy(self, key: str) -> Policy:
        if self._fixed is not None:
            return self._fixed
        policy = self._breakers.get_policy(key)
        if policy is None:
            policy = self._make(self.label, self.direction, self.names, key)
            self._breakers.put(key, policy)
        return policy


class ResiliencyPolicies:
    """The compiled lookups; build with ``compile_policies``. Lookups are cheap enough per call."""

    def __init__(
        self,
        timing: Timing = DEFAULT_TIMING,
        on_event: EventSink | None = None,
        metrics: ResiliencyMetrics | None = None,
    ) -> None:
        self.timing = timing
        self.on_event = on_event
        self.metrics = metrics
        self.name = ""  # the last resource's name, as Dapr labels its metrics
        self.timeouts: dict[str, float] = {}
        self.retries: dict[str, RetrySchedule] = dict(BUILT_IN_RETRIES)
        self.breakers: dict[str, _Breaker] = {}
        self._app_names: dict[str, TargetPolicy] = {}
        self._actor_names: dict[str, TargetPolicy] = {}
        self._component_names: dict[str, tuple[TargetPolicy, TargetPolicy]] = {}
        self._apps: dict[str, _Target] = {}
        self._actors: dict[str, tuple[_Target, Policy, str]] = {}
        self._components: dict[tuple[str, Direction], _Target] = {}
        self._defaults: dict[tuple[str, ...], _Target | None] = {}
        self._default_actors: dict[str, tuple[_Target, Policy]] = {}
        self._default_levels: dict[tuple[str, ...], _Names | None] = {}
        self._builtins: dict[str, Policy] = {}
        self._any_default = False  # no Default...Policy at all: unnamed targets get NOOP at once

    # --- lookups -------------------------------------------------------------------------------

    def for_app(self, app_id: str, method: str = "") -> Policy:
        """Service invocation of ``app_id``; its breaker is per method, as Dapr's (LRU per app)."""
        target = self._apps.get(app_id)
        if target is None:
            if not self._any_default:
                return NOOP
            target = self._default(("App",), f"app_{app_id}", "outbound", app_id)
            if target is None:
                return NOOP
        return target.policy(f"{app_id}:{method}")

    def for_actor(self, actor_type: str, actor_id: str = "") -> ActorPolicies:
        """An actor call; its breaker is per type or per actor, as the target's ``circuitBreakerScope``."""
        named = self._actors.get(actor_type)
        if named is not None:
            target, post_lock, scope = named
            key = actor_type if scope == "type" else f"{actor_type}-{actor_id}"
            return ActorPolicies(target.policy(key), post_lock)
        entry = self._default_actors.get(actor_type)
        if entry is None:
            names = None if not self._any_default else self._default_names(("Actor",))
            if names is None:
                return _NOOP_ACTOR
            label = f"actor_{actor_type}"
            pre = _Target(
                self, label, "outbound", _Names(0.0, names.retry, names.breaker), _DEFAULT_APP_CACHE
            )
            post = self._policy(label, "outbound", _Names(names.timeout, None, None), None)
            entry = self._default_actors[actor_type] = (pre, post)
        # Dapr's default actor breaker is per type whatever the scope (there is none to read).
        return ActorPolicies(entry[0].policy(actor_type), entry[1])

    def for_component(self, name: str, direction: Direction, component_type: str = "") -> Policy:
        """A component call; ``direction`` is outbound (sidecar to component) or inbound (to app).

        ``component_type`` (``state.redis``, or Dapr's ``Statestore``) picks the type-specific
        defaults such as ``DefaultStatestoreComponentOutboundRetryPolicy``.
        """
        target = self._components.get((name, direction))
        if target is not None:
            return target.policy(name)
        named = self._component_names.get(name)
        if named is None and not self._any_default:
            return NOOP
        kind = _component_kind(component_type)
        label = f"{kind or 'Component'}_{name}"
        if named is not None:
            names = self._names(named[0] if direction == "inbound" else named[1])
            target = self._components[(name, direction)] = _Target(self, label, direction, names, 1)
            return target.policy(name)
        cap = direction.capitalize()
        levels: tuple[str, ...] = (f"Component{cap}", "Component")
        if kind:
            levels = (f"{kind}Component{cap}", *levels)
        target = self._default(levels, label, direction, f"{name}/{direction}")
        return NOOP if target is None else target.policy(name)

    def builtin(self, name: BuiltIn | str) -> Policy:
        """A built-in retry (overridable by a retry policy of the same name); retry only."""
        policy = self._builtins.get(name)
        if policy is None:
            # Not measured: daprd reports no resiliency metrics for its built-in policies.
            policy = self._builtins[name] = self._policy(
                str(name), "outbound", _Names(0.0, self.retries.get(name), None), None, measured=False
            )
        return policy

    def has_target(self, kind: TargetKind, name: str) -> bool:
        """Whether a named target exists (Dapr then skips the built-in retries for it)."""
        if kind == "app":
            return name in self._apps
        if kind == "actor":
            return name in self._actors
        return name in self._component_names

    # --- building ------------------------------------------------------------------------------

    def add(self, resiliency: Resiliency) -> None:
        """Merge one resource, overriding same-named policies and targets already present."""
        self.name = resiliency.name
        where = f'{resiliency.source}: Resiliency "{resiliency.name}"'
        self.timeouts.update(resiliency.timeouts)
        for name, retry in resiliency.retries.items():
            if name in _PROTECTED:
                log.warning("%s: the built-in policy %s cannot be overridden; ignored", where, name)
                continue
            schedule = _schedule(retry, f"{where}: retry {name}")
            if name in BUILT_IN_RETRIES and 0 <= schedule.max_retries < _MIN_BUILT_IN_RETRIES:
                log.warning("%s: %s may not retry fewer than 3 times; using 3", where, name)
                schedule = _replace_retries(schedule, _MIN_BUILT_IN_RETRIES)
            self.retries[name] = schedule
        for name, spec in resiliency.circuit_breakers.items():
            try:
                trip = compile_trip(spec.trip)
            except ValueError as exc:
                raise ResiliencyError(f"{where}: circuit breaker {name}: {exc}") from None
            self.breakers[name] = _Breaker(name, spec, trip)
        targets = resiliency.targets
        for app, policy in targets.apps.items():
            self._app_names[app] = policy
        for actor, policy in targets.actors.items():
            self._actor_names[actor] = policy
        for component, pair in targets.components.items():
            self._component_names[component] = (pair.inbound, pair.outbound)
        if self.metrics is not None:
            self.metrics.loaded(resiliency.name, resiliency.namespace or "")

    def resolve(self) -> None:
        """Bind targets to policy values once every resource is merged (names are global)."""
        for app, names in self._app_names.items():
            self._apps[app] = _Target(
                self, f"app_{app}", "outbound", self._names(names), names.circuit_breaker_cache_size
            )
        for actor, names in self._actor_names.items():
            label = f"actor_{actor}"
            bound = self._names(names)
            pre_names = _Names(0.0, bound.retry, bound.breaker)
            pre = _Target(self, label, "outbound", pre_names, names.circuit_breaker_cache_size)
            post = self._policy(label, "outbound", _Names(bound.timeout, None, None), None)
            self._actors[actor] = (pre, post, names.circuit_breaker_scope or "type")
        self._components.clear()
        self._default_actors.clear()
        self._defaults.clear()
        self._default_levels.clear()
        self._any_default = any(
            name.startswith("Default") and name.endswith("Policy")
            for name in (*self.timeouts, *self.retries, *self.breakers)
        )
        self._builtins.clear()

    def _names(self, names: TargetPolicy) -> _Names:
        return _Names(
            self.timeouts.get(names.timeout, 0.0) if names.timeout else 0.0,
            self.retries.get(names.retry) if names.retry else None,
            self.breakers.get(names.circuit_breaker) if names.circuit_breaker else None,
        )

    def _default(self, levels: tuple[str, ...], label: str, direction: Direction, key: str) -> _Target | None:
        # One default target per app id or component and direction, made on first use.
        cache_key = (*levels, key)
        if cache_key in self._defaults:
            return self._defaults[cache_key]
        names = self._default_names(levels)
        target = None if names is None else _Target(self, label, direction, names, _DEFAULT_APP_CACHE)
        self._defaults[cache_key] = target
        return target

    def _default_names(self, levels: tuple[str, ...]) -> _Names | None:
        if levels in self._default_levels:
            return self._default_levels[levels]
        timeout_name = _first(self.timeouts, levels, "Timeout")
        retry_name = _first(self.retries, levels, "Retry")
        breaker_name = _first(self.breakers, levels, "CircuitBreaker")
        names = None
        if timeout_name or retry_name or breaker_name:
            names = _Names(
                self.timeouts[timeout_name] if timeout_name else 0.0,
                self.retries[retry_name] if retry_name else None,
                self.breakers[breaker_name] if breaker_name else None,
            )
        self._default_levels[levels] = names
        return names

    def _policy(
        self, label: str, direction: Direction, names: _Names, key: str | None, *, measured: bool = True
    ) -> Policy:
        breaker = None
        if names.breaker is not None and key is not None:
            breaker = self._new_breaker(names.breaker, key, label, direction)
        return Policy(
            name=f"{label} {direction}" if key is None else f"{label} {direction} [{key}]",
            target=label,
            direction=direction,
            timeout=names.timeout,
            retry=names.retry,
            breaker=breaker,
            timing=self.timing,
            on_event=self.on_event,
            metrics=self.metrics if measured else None,
        )

    def _new_breaker(self, template: _Breaker, key: str, label: str, direction: Direction) -> CircuitBreaker:
        sink = self.on_event
        metrics = self.metrics

        def changed(_: CircuitBreaker, previous: BreakerState, state: BreakerState) -> None:
            if metrics is not None:
                metrics.breaker_changed(label, direction, state.value)
            if sink is not None:
                sink(
                    PolicyEvent(
                        "circuit_breaker", label, direction, state=state.value, previous_state=previous.value
                    )
                )

        spec = template.spec
        return CircuitBreaker(
            f"{template.name}-{key}",
            trip=template.trip,
            max_requests=spec.max_requests,
            interval=spec.interval,
            timeout=spec.timeout,
            clock=self.timing.clock,
            on_change=changed,
        )


def compile_policies(
    resiliencies: Iterable[Resiliency],
    *,
    app_id: str | None = None,
    timing: Timing = DEFAULT_TIMING,
    on_event: EventSink | None = None,
    metrics: ResiliencyMetrics | Literal["sidecar"] | None = "sidecar",
) -> ResiliencyPolicies:
    """Compile resources in load order (later ones override); scoped ones apply only to ``app_id``.

    ``metrics``: where Dapr's resiliency metrics go; ``"sidecar"`` (the default) is the sidecar's
    registry labelled with ``app_id`` when one is given, None records nothing (metrics disabled).
    """
    if metrics == "sidecar":
        metrics = _sidecar_metrics(app_id)
    policies = ResiliencyPolicies(timing, on_event, metrics)
    for resiliency in resiliencies:
        if resiliency.scopes and app_id is not None and app_id not in resiliency.scopes:
            continue
        policies.add(resiliency)
    policies.resolve()
    return policies


def _sidecar_metrics(app_id: str | None) -> ResiliencyMetrics | None:
    if app_id is None:
        return None
    from pydapr.observability.metrics.blocks.resiliency import SidecarResiliencyMetrics

    return SidecarResiliencyMetrics(app_id)


def _schedule(retry: RetryPolicy, where: str) -> RetrySchedule:
    try:
        http = CodeRanges(retry.matching_http_codes, 100, 599)
        grpc = CodeRanges(retry.matching_grpc_codes, 0, 16)
    except ValueError as exc:
        raise ResiliencyError(f"{where}: matching: {exc}") from None
    return RetrySchedule(
        exponential=retry.policy == "exponential",
        duration=retry.duration,
        max_interval=retry.max_interval,
        max_retries=retry.max_retries,
        http_codes=http,
        grpc_codes=grpc,
    )


def _replace_retries(schedule: RetrySchedule, max_retries: int) -> RetrySchedule:
    return RetrySchedule(
        exponential=schedule.exponential,
        duration=schedule.duration,
        initial_interval=schedule.initial_interval,
        randomization=schedule.randomization,
        multiplier=schedule.multiplier,
        max_interval=schedule.max_interval,
        max_elapsed=schedule.max_elapsed,
        max_retries=max_retries,
        http_codes=schedule.http_codes,
        grpc_codes=schedule.grpc_codes,
    )


def _first(defined: Mapping[str, object], levels: tuple[str, ...], kind: str) -> str | None:
    for level in (*levels, ""):
        name = f"Default{level}{kind}Policy"
        if name in defined:
            return name
    return None


def _component_kind(component_type: str) -> str:
    if not component_type:
        return ""
    if component_type in _COMPONENT_TYPES.values():
        return component_type
    return _COMPONENT_TYPES.get(component_type.split(".", 1)[0], "")
