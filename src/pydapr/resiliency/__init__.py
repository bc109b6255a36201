"""Resiliency: timeouts, retries and circuit breakers as values, and one async runner that applies them.

``compile_policies(resources.resiliencies)`` once at startup; then per call
``await policies.for_app(app_id, method).run(call, classify=...)``. See docs/resiliency.md.
"""

from .backoff import Backoff, RetrySchedule
from .breaker import OPEN_BREAKER_PAUSE, BreakerState, CircuitBreaker, CircuitBreakerOpen, Counts, TripRule
from .outcome import (
    CodeRanges,
    Failure,
    NotAFailure,
    Permanent,
    StatusError,
    failure_of,
    grpc_failure,
    http_failure,
    parse_retry_after,
)
from .policies import (
    BUILT_IN_RETRIES,
    NOOP,
    ActorPolicies,
    BuiltIn,
    ResiliencyError,
    ResiliencyMetrics,
    ResiliencyPolicies,
    compile_policies,
)
from .policy import Classify, EventSink, Policy, PolicyEvent, PolicyMetrics, PolicyTimeout, Timing

__all__ = [
    "BUILT_IN_RETRIES",
    "NOOP",
    "OPEN_BREAKER_PAUSE",
    "ActorPolicies",
    "Backoff",
    "BreakerState",
    "BuiltIn",
    "CircuitBreaker",
    "CircuitBreakerOpen",
    "Classify",
    "CodeRanges",
    "Counts",
    "EventSink",
    "Failure",
    "NotAFailure",
    "Permanent",
    "Policy",
    "PolicyEvent",
    "PolicyMetrics",
    "PolicyTimeout",
    "ResiliencyError",
    "ResiliencyMetrics",
    "ResiliencyPolicies",
    "RetrySchedule",
    "StatusError",
    "Timing",
    "TripRule",
    "compile_policies",
    "failure_of",
    "grpc_failure",
    "http_failure",
    "parse_retry_after",
]
