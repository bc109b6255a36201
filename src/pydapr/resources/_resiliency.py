"""Build Resiliency values: named policies, and targets that must name existing policies."""

from __future__ import annotations

from typing import Any

from ._fields import Doc, join
from .models import (
    CircuitBreakerPolicy,
    ComponentTargetPolicy,
    Resiliency,
    ResiliencyTargets,
    RetryPolicy,
    TargetPolicy,
)

__all__ = ["BUILT_IN_RETRIES", "parse_resiliency"]

# Dapr defines these itself, so a target may name them without declaring them.
BUILT_IN_RETRIES = frozenset(
    {
        "DaprBuiltInServiceRetries",
        "DaprBuiltInActorRetries",
        "DaprBuiltInActorReminderRetries",
        "DaprBuiltInActorNotFoundRetries",
        "DaprBuiltInInitializationRetries",
    }
)
_HTTP_CODES = (100, 599)
_GRPC_CODES = (0, 16)


def parse_resiliency(doc: Doc, obj: dict[str, Any], namespace: str | None) -> Resiliency:
    spec = doc.mapping(obj, "spec", "")
    policies = doc.mapping(spec, "policies", "spec")
    where = "spec.policies.timeouts"
    timeouts = {
        name: doc.parse_duration(value, join(where, name), millis=True)
        for name, value in doc.mapping(policies, "timeouts", "spec.policies").items()
    }
    retries = {
        name: _retry(doc, doc.mapping_value(value, join("spec.policies.retries", name)), name)
        for name, value in doc.mapping(policies, "retries", "spec.policies").items()
    }
    breakers = {
        name: _breaker(doc, doc.mapping_value(value, join("spec.policies.circuitBreakers", name)), name)
        for name, value in doc.mapping(policies, "circuitBreakers", "spec.policies").items()
    }
    known = _Known(doc, set(timeouts), set(retries) | BUILT_IN_RETRIES, set(breakers))
    targets = doc.mapping(spec, "targets", "spec")
    return Resiliency(
        name=doc.name or "",
        namespace=namespace,
        scopes=doc.strings(obj, "scopes", ""),
        source=doc.file,
        timeouts=timeouts,
        retries=retries,
        circuit_breakers=breakers,
        targets=ResiliencyTargets(
            apps=_targets(doc, known, targets, "apps", cache_size=100),
            actors=_targets(doc, known, targets, "actors", cache_size=5000),
            components={
                name: _component_target(doc, known, value, join("spec.targets.components", name))
                for name, value in doc.mapping(targets, "components", "spec.targets").items()
            },
        ),
    )


def _retry(doc: Doc, spec: dict[str, Any], name: str) -> RetryPolicy:
    where = join("spec.policies.retries", name)
    policy = (doc.string(spec, "policy", where) or "constant").lower()
    if policy not in ("constant", "exponential"):
        raise doc.error(join(where, "policy"), f'"{policy}" is not one of constant, exponential')
    max_retries = doc.integer(spec, "maxRetries", where, -1)
    if max_retries < -1:
        raise doc.error(join(where, "maxRetries"), "must be -1 (retry forever) or more")
    matching = doc.mapping(spec, "matching", where)
    return RetryPolicy(
        policy=policy,
        duration=doc.duration(spec, "duration", where, 5.0, millis=True),
        max_interval=doc.duration(spec, "maxInterval", where, 60.0, millis=True),
        max_retries=max_retries,
        matching_http_codes=_codes(doc, matching, "httpStatusCodes", join(where, "matching"), _HTTP_CODES),
        matching_grpc_codes=_codes(doc, matching, "gRPCStatusCodes", join(where, "matching"), _GRPC_CODES),
    )


def _codes(doc: Doc, matching: dict[str, Any], key: str, where: str, bounds: tuple[int, int]) -> str:
    text = doc.text(matching, key, where) or ""
    low, high = bounds
    for pattern in filter(None, text.split(",")):
        ends = pattern.split("-")
        valid = len(ends) <= 2 and all(end.isdigit() and low <= int(end) <= high for end in ends)
        if not valid:
            raise doc.error(
                join(where, key),
                f'"{pattern}" is not a code or range of codes between {low} and {high}',
            )
    return text


def _breaker(doc: Doc, spec: dict[str, Any], name: str) -> CircuitBreakerPolicy:
    where = join("spec.policies.circuitBreakers", name)
    max_requests = doc.integer(spec, "maxRequests", where, 0)
    if max_requests < 0:
        raise doc.error(join(where, "maxRequests"), "must not be negative")
    timeout = doc.duration(spec, "timeout", where, 0.0, millis=True)
    return CircuitBreakerPolicy(
        max_requests=max_requests or 1,
        interval=doc.duration(spec, "interval", where, 0.0, millis=True),
        timeout=timeout or 60.0,
        trip=doc.text(spec, "trip", where) or "consecutiveFailures > 5",
    )


class _Known:
    def __init__(self, doc: Doc, timeouts: set[str], retries: set[str], breakers: set[str]) -> None:
        self.doc = doc
        self.sets = {
            "timeout": (timeouts, "timeout", "spec.policies.timeouts"),
            "retry": (retries, "retry policy", "spec.policies.retries"),
            "circuitBreaker": (breakers, "circuit breaker", "spec.policies.circuitBreakers"),
        }

    def ref(self, spec: dict[str, Any], key: str, where: str) -> str | None:
        name = self.doc.string(spec, key, where) or None
        names, label, place = self.sets[key]
        if name is not None and name not in names:
            raise self.doc.error(join(where, key), f'no {label} named "{name}" in {place}')
        return name


def _targets(
    doc: Doc, known: _Known, targets: dict[str, Any], key: str, *, cache_size: int
) -> dict[str, TargetPolicy]:
    result: dict[str, TargetPolicy] = {}
    for name, value in doc.mapping(targets, key, "spec.targets").items():
        where = join(join("spec.targets", key), name)
        spec = doc.mapping_value(value, where)
        scope = None
        breaker = known.ref(spec, "circuitBreaker", where)
        if key == "actors":
            scope = doc.string(spec, "circuitBreakerScope", where) or None
            if breaker is not None and scope is None:
                raise doc.error(join(where, "circuitBreakerScope"), "field required with a circuitBreaker")
            if scope is not None and scope not in ("type", "id", "both"):
                raise doc.error(join(where, "circuitBreakerScope"), f'"{scope}" is not one of type, id, both')
        size = doc.integer(spec, "circuitBreakerCacheSize", where, 0)
        if size < 0:
            raise doc.error(join(where, "circuitBreakerCacheSize"), "must not be negative")
        result[str(name)] = TargetPolicy(
            timeout=known.ref(spec, "timeout", where),
            retry=known.ref(spec, "retry", where),
            circuit_breaker=breaker,
            circuit_breaker_scope=scope,
            circuit_breaker_cache_size=size or cache_size,
        )
    return result


def _component_target(doc: Doc, known: _Known, value: Any, where: str) -> ComponentTargetPolicy:
    spec = doc.mapping_value(value, where)
    return ComponentTargetPolicy(
        inbound=_direction(doc, known, doc.mapping(spec, "inbound", where), join(where, "inbound")),
        outbound=_direction(doc, known, doc.mapping(spec, "outbound", where), join(where, "outbound")),
    )


def _direction(doc: Doc, known: _Known, spec: dict[str, Any], where: str) -> TargetPolicy:
    return TargetPolicy(
        timeout=known.ref(spec, "timeout", where),
        retry=known.ref(spec, "retry", where),
        circuit_breaker=known.ref(spec, "circuitBreaker", where),
    )
