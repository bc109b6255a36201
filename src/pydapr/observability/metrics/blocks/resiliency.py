"""Dapr's resiliency metrics (dapr/dapr pkg/diagnostics/resiliency_monitoring.go), as daprd counts them.

- ``dapr_resiliency_loaded``: one per Resiliency resource loaded (``app_id``, ``name``, ``namespace``).
- ``dapr_resiliency_count``: per call to a target with policies, one per kind of policy it has
  (``timeout``, ``retry``, ``circuitbreaker``); the breaker's carries its state as ``status``.
- ``dapr_resiliency_activations_total``: a timeout that fired (once per call), each retry, each
  breaker state change (``status`` = the new state).
- ``dapr_resiliency_cb_state``: per breaker target, one series per state, 1 for the current one.

``name`` and ``namespace`` are the last Resiliency resource loaded, as daprd labels every policy
with its one Resiliency object's. Built-in policies (``DaprBuiltIn...``) are not counted, as in daprd.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._series import counter, gauge

if TYPE_CHECKING:
    from pydapr.resiliency import Policy

_POLICY_LABELS = ("app_id", "name", "policy", "namespace", "flow_direction", "target", "status")

LOADED = counter(
    "dapr_resiliency_loaded", "Number of resiliency policies loaded.", ("app_id", "name", "namespace")
)
EXECUTIONS = counter(
    "dapr_resiliency_count",
    "Number of times a resiliency policyKey has been applied to a building block.",
    _POLICY_LABELS,
)
ACTIVATIONS = counter(
    "dapr_resiliency_activations_total",
    "Number of times a resiliency policyKey has been activated in a building block after a failure "
    "or after a state change.",
    _POLICY_LABELS,
)
BREAKER_STATE = gauge(
    "dapr_resiliency_cb_state",
    "A resiliency policy's current CircuitBreakerState state. 0 is closed, 1 is half-open, 2 is open, "
    "and -1 is unknown.",
    _POLICY_LABELS,
)
BREAKER_STATES = ("closed", "half-open", "open", "unknown")

TIMEOUT, RETRY, CIRCUIT_BREAKER = "timeout", "retry", "circuitbreaker"


class SidecarResiliencyMetrics:
    """``pydapr.resiliency.ResiliencyMetrics`` on the sidecar's registry, for one app id."""

    def __init__(self, app_id: str) -> None:
        self.app_id = app_id
        self.name = ""
        self.namespace = ""

    def loaded(self, name: str, namespace: str) -> None:
        self.name, self.namespace = name, namespace
        LOADED.inc((self.app_id, name, namespace))

    def _key(self, kind: str, direction: str, target: str, status: str = "") -> tuple[str, ...]:
        return (self.app_id, self.name, kind, self.namespace, direction, target, status)

    def executed(self, policy: Policy) -> None:
        direction, target = policy.direction, policy.target
        if policy.timeout > 0:
            EXECUTIONS.inc(self._key(TIMEOUT, direction, target))
        if policy.retry is not None:
            EXECUTIONS.inc(self._key(RETRY, direction, target))
        if policy.breaker is not None:
            state = policy.breaker.state.value
            EXECUTIONS.inc(self._key(CIRCUIT_BREAKER, direction, target, state))
            self._breaker_state(direction, target, state)

    def timed_out(self, policy: Policy) -> None:
        ACTIVATIONS.inc(self._key(TIMEOUT, policy.direction, policy.target))

    def retried(self, policy: Policy) -> None:
        ACTIVATIONS.inc(self._key(RETRY, policy.direction, policy.target))

    def breaker_changed(self, target: str, direction: str, state: str) -> None:
        ACTIVATIONS.inc(self._key(CIRCUIT_BREAKER, direction, target, state))
        self._breaker_state(direction, target, state)

    def _breaker_state(self, direction: str, target: str, state: str) -> None:
        for each in BREAKER_STATES:
            BREAKER_STATE.set(
                self._key(CIRCUIT_BREAKER, direction, target, each), 1.0 if each == state else 0.0
            )
