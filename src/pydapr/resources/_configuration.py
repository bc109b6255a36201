"""Build Configuration values, with the defaults and checks of Dapr's pkg/config and pkg/acl."""

from __future__ import annotations

import re
from typing import Any

from ._fields import Doc, join
from .models import (
    AccessControlSpec,
    APILoggingSpec,
    APIRule,
    AppPolicy,
    Configuration,
    HandlerSpec,
    MetricRule,
    MetricSpec,
    MTLSSpec,
    NamedConcurrencyLimit,
    NameResolutionSpec,
    OperationRule,
    SecretScope,
    TracingSpec,
    WorkflowRetentionPolicy,
    WorkflowSpec,
)

__all__ = ["parse_configuration"]

_ACTIONS = ("allow", "deny")


def parse_configuration(
    doc: Doc, obj: dict[str, Any], namespace: str | None, *, standalone: bool = False
) -> Configuration:
    """``standalone``: read as daprd reads ``--config``, on top of its default configuration."""
    spec = doc.mapping(obj, "spec", "")
    app_handlers = _pipeline(doc, spec, "appHttpPipeline")
    handlers = _pipeline(doc, spec, "httpPipeline")
    api = doc.mapping(spec, "api", "spec")
    components = doc.mapping(spec, "components", "spec")
    metric = _metric(doc, spec)
    return Configuration(
        name=doc.name or "",
        namespace=namespace,
        source=doc.file,
        spec=spec,
        tracing=_tracing(doc, spec),
        metrics_enabled=metric.enabled,
        metric=metric,
        access_control=_access_control(doc, spec, standalone),
        features=_features(doc, spec),
        api_allowed=_api_rules(doc, api, "allowed"),
        api_denied=_api_rules(doc, api, "denied"),
        secret_scopes=_secret_scopes(doc, spec),
        name_resolution=_name_resolution(doc, spec),
        app_http_pipeline=tuple(handler.name for handler in app_handlers),
        http_pipeline=tuple(handler.name for handler in handlers),
        app_http_handlers=app_handlers,
        http_handlers=handlers,
        mtls=_mtls(doc, spec),
        api_logging=_api_logging(doc, spec),
        components_deny=doc.strings(components, "deny", "spec.components"),
        workflow=_workflow(doc, spec),
    )


def _action(doc: Doc, spec: dict[str, Any], key: str, where: str) -> str | None:
    value = doc.string(spec, key, where)
    if not value:
        return None
    if value.lower() not in _ACTIONS:
        raise doc.error(join(where, key), f'"{value}" is not one of allow, deny')
    return value.lower()


def _tracing(doc: Doc, spec: dict[str, Any]) -> TracingSpec:
    where = "spec.tracing"
    tracing = doc.mapping(spec, "tracing", "spec")
    rate_text = doc.text(tracing, "samplingRate", where)
    rate = _sampling_rate(doc, rate_text, join(where, "samplingRate"))
    zipkin = doc.mapping(tracing, "zipkin", where)
    otel = doc.mapping(tracing, "otel", where)
    otel_where = join(where, "otel")
    protocol = doc.string(otel, "protocol", otel_where) or None
    if protocol is not None and protocol.lower() not in ("grpc", "http"):
        raise doc.error(join(otel_where, "protocol"), f'"{protocol}" is not one of grpc, http')
    return TracingSpec(
        sampling_rate=rate,
        sampling_rate_given=bool(rate_text),
        stdout=doc.boolean(tracing, "stdout", where, False),
        zipkin_endpoint=doc.string(zipkin, "endpointAddress", join(where, "zipkin")) or None,
        otel_endpoint=doc.string(otel, "endpointAddress", otel_where) or None,
        otel_protocol=protocol.lower() if protocol else None,
        otel_is_secure=doc.boolean(otel, "isSecure", otel_where, True),
        otel_headers=doc.name_values(otel, "headers", otel_where),
        otel_timeout=doc.duration(otel, "timeout", otel_where, None),
    )


def _sampling_rate(doc: Doc, text: str | None, where: str) -> float:
    # Dapr parses the rate when it sets tracing up: text that is not a number means its default,
    # and its ratio sampler treats anything above 1 as always and below 0 as never.
    if not text:
        return 0.0001
    try:
        rate = float(text)
    except ValueError:
        doc.warn(where, f'"{text}" is not a number from 0 to 1; using the default 0.0001')
        return 0.0001
    if not 0 <= rate <= 1:
        clamped = min(max(rate, 0.0), 1.0)
        doc.warn(where, f'"{text}" is not a number from 0 to 1; sampling as {clamped:g}')
        return clamped
    return rate


def _metric(doc: Doc, spec: dict[str, Any]) -> MetricSpec:
    # Dapr's runtime reads ``metric``; its docs write ``metrics``. Both are honoured.
    key = "metric" if doc.get(spec, "metric") is not None else "metrics"
    where = join("spec", key)
    metric = doc.mapping(spec, key, "spec")
    http = doc.mapping(metric, "http", where)
    http_where = join(where, "http")
    # An empty list is no path matching at all, as in Dapr.
    path_matching = doc.strings(http, "pathMatching", http_where) or None
    return MetricSpec(
        enabled=bool(doc.boolean(metric, "enabled", where, True)),
        increased_cardinality=bool(doc.boolean(http, "increasedCardinality", http_where, False)),
        path_matching=path_matching,
        exclude_verbs=bool(doc.boolean(http, "excludeVerbs", http_where, False)),
        latency_buckets=_latency_buckets(doc, metric, where),
        rules=tuple(_metric_rule(doc, rule, at) for at, rule in doc.items(metric, "rules", where)),
        record_error_codes=bool(doc.boolean(metric, "recordErrorCodes", where, False)),
    )


def _latency_buckets(doc: Doc, metric: dict[str, Any], where: str) -> tuple[int, ...] | None:
    value = doc.get(metric, "latencyDistributionBuckets")
    if value is None:
        return None
    at = join(where, "latencyDistributionBuckets")
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise doc.error(at, "expected a list of whole milliseconds")
    # Dapr sorts and de-duplicates the bounds; an empty list keeps its default buckets.
    return tuple(sorted(set(value))) or None


def _metric_rule(doc: Doc, rule: dict[str, Any], where: str) -> MetricRule:
    labels = []
    for at, label in doc.items(rule, "labels", where):
        regex = doc.mapping(label, "regex", at)
        pairs = []
        for replacement, pattern in regex.items():
            if not isinstance(pattern, str):
                raise doc.error(join(join(at, "regex"), str(replacement)), "expected a regular expression")
            try:
                re.compile(pattern)
            except re.error as exc:
                field = join(join(at, "regex"), str(replacement))
                raise doc.error(field, f"not a valid regex: {exc}") from None
            pairs.append((str(replacement), pattern))
        labels.append((doc.required(label, "name", at), tuple(pairs)))
    return MetricRule(name=doc.required(rule, "name", where), labels=tuple(labels))


def _access_control(doc: Doc, spec: dict[str, Any], standalone: bool) -> AccessControlSpec | None:
    where = "spec.accessControl"
    acl = doc.mapping(spec, "accessControl", "spec")
    if not acl:
        return None
    policies = tuple(_app_policy(doc, policy, at) for at, policy in doc.items(acl, "policies", where))
    default = _action(doc, acl, "defaultAction", where)
    if default is None:
        # daprd decodes --config onto a default configuration that already says allow, so a
        # file without defaultAction keeps it; elsewhere pkg/acl falls back to deny when
        # app policies are listed.
        default = "allow" if standalone or not policies else "deny"
    return AccessControlSpec(
        default_action=default,
        trust_domain=doc.string(acl, "trustDomain", where) or "public",
        policies=policies,
    )


def _app_policy(doc: Doc, policy: dict[str, Any], where: str) -> AppPolicy:
    return AppPolicy(
        app_id=doc.required(policy, "appId", where),
        default_action=_action(doc, policy, "defaultAction", where),
        trust_domain=doc.required(policy, "trustDomain", where),
        namespace=doc.required(policy, "namespace", where),
        operations=tuple(
            OperationRule(
                name=doc.required(operation, "name", at),
                http_verb=doc.strings(operation, "httpVerb", at),
                action=_action(doc, operation, "action", at) or _missing(doc, join(at, "action")),
            )
            for at, operation in doc.items(policy, "operations", where)
        ),
    )


def _missing(doc: Doc, where: str) -> str:
    raise doc.error(where, "field required")


def _features(doc: Doc, spec: dict[str, Any]) -> dict[str, bool]:
    return {
        doc.required(feature, "name", at): bool(doc.boolean(feature, "enabled", at, False))
        for at, feature in doc.items(spec, "features", "spec")
    }


def _api_rules(doc: Doc, api: dict[str, Any], key: str) -> tuple[APIRule, ...]:
    rules = []
    for at, rule in doc.items(api, key, "spec.api"):
        protocol = doc.string(rule, "protocol", at) or None
        if protocol is not None and protocol.lower() not in ("http", "grpc"):
            raise doc.error(join(at, "protocol"), f'"{protocol}" is not one of http, grpc')
        rules.append(
            APIRule(
                name=doc.required(rule, "name", at),
                version=doc.required(rule, "version", at),
                protocol=protocol.lower() if protocol else None,
            )
        )
    return tuple(rules)


def _secret_scopes(doc: Doc, spec: dict[str, Any]) -> dict[str, SecretScope]:
    secrets = doc.mapping(spec, "secrets", "spec")
    scopes: dict[str, SecretScope] = {}
    for at, scope in doc.items(secrets, "scopes", "spec.secrets"):
        store = doc.required(scope, "storeName", at)
        if store in scopes:
            raise doc.error(join(at, "storeName"), f'"{store}" is listed twice')
        scopes[store] = SecretScope(
            default_access=_action(doc, scope, "defaultAccess", at) or "allow",
            allowed=tuple(sorted(doc.strings(scope, "allowedSecrets", at))),
            denied=tuple(sorted(doc.strings(scope, "deniedSecrets", at))),
        )
    return scopes


def _name_resolution(doc: Doc, spec: dict[str, Any]) -> NameResolutionSpec | None:
    where = "spec.nameResolution"
    resolution = doc.mapping(spec, "nameResolution", "spec")
    if not resolution:
        return None
    return NameResolutionSpec(
        component=doc.required(resolution, "component", where),
        version=doc.string(resolution, "version", where) or "",
        configuration=doc.get(resolution, "configuration"),
    )


def _pipeline(doc: Doc, spec: dict[str, Any], key: str) -> tuple[HandlerSpec, ...]:
    pipeline = doc.mapping(spec, key, "spec")
    return tuple(
        HandlerSpec(name=doc.required(handler, "name", at), type=doc.required(handler, "type", at))
        for at, handler in doc.items(pipeline, "handlers", join("spec", key))
    )


def _mtls(doc: Doc, spec: dict[str, Any]) -> MTLSSpec | None:
    where = "spec.mtls"
    mtls = doc.mapping(spec, "mtls", "spec")
    if not mtls:
        return None
    return MTLSSpec(
        enabled=bool(doc.boolean(mtls, "enabled", where, False)),
        workload_cert_ttl=doc.duration(mtls, "workloadCertTTL", where, None),
        allowed_clock_skew=doc.duration(mtls, "allowedClockSkew", where, None),
        sentry_address=doc.string(mtls, "sentryAddress", where) or None,
        control_plane_trust_domain=doc.string(mtls, "controlPlaneTrustDomain", where) or None,
    )


def _api_logging(doc: Doc, spec: dict[str, Any]) -> APILoggingSpec:
    logging = doc.mapping(spec, "logging", "spec")
    api = doc.mapping(logging, "apiLogging", "spec.logging")
    where = "spec.logging.apiLogging"
    return APILoggingSpec(
        enabled=doc.boolean(api, "enabled", where, None),
        obfuscate_urls=bool(doc.boolean(api, "obfuscateURLs", where, False)),
        omit_health_checks=bool(doc.boolean(api, "omitHealthChecks", where, False)),
    )


_INT32_MAX = (1 << 31) - 1


def _workflow(doc: Doc, spec: dict[str, Any]) -> WorkflowSpec:
    where = "spec.workflow"
    workflow = doc.mapping(spec, "workflow", "spec")
    if not workflow:
        return WorkflowSpec()
    return WorkflowSpec(
        max_concurrent_workflow_invocations=_limit(doc, workflow, "maxConcurrentWorkflowInvocations", where),
        max_concurrent_activity_invocations=_limit(doc, workflow, "maxConcurrentActivityInvocations", where),
        global_max_concurrent_workflow_invocations=_limit(
            doc, workflow, "globalMaxConcurrentWorkflowInvocations", where
        ),
        global_max_concurrent_activity_invocations=_limit(
            doc, workflow, "globalMaxConcurrentActivityInvocations", where
        ),
        workflow_concurrency_limits=_named_limits(doc, workflow, "workflowConcurrencyLimits", where),
        activity_concurrency_limits=_named_limits(doc, workflow, "activityConcurrencyLimits", where),
        state_retention=_retention(doc, workflow, where),
    )


def _int32(doc: Doc, obj: dict[str, Any], key: str, where: str) -> int | None:
    if doc.get(obj, key) is None:
        return None
    value = doc.integer(obj, key, where, 0)
    if not -_INT32_MAX - 1 <= value <= _INT32_MAX:
        raise doc.error(join(where, key), f"{value} does not fit in a 32-bit integer")
    return value


def _limit(doc: Doc, obj: dict[str, Any], key: str, where: str) -> int | None:
    # daprd's getters: zero or less is no limit at all.
    value = _int32(doc, obj, key, where)
    return value if value is not None and value > 0 else None


def _named_limits(doc: Doc, obj: dict[str, Any], key: str, where: str) -> tuple[NamedConcurrencyLimit, ...]:
    limits = []
    for at, item in doc.items(obj, key, where):
        name = doc.string(item, "name", at)
        limit = _int32(doc, item, "maxConcurrent", at)
        # daprd's scheduler client skips an entry without a name or a positive limit.
        if name is None or limit is None or limit <= 0:
            doc.warn(at, "needs a name and a maxConcurrent above 0; the entry is ignored, as in daprd")
            continue
        limits.append(NamedConcurrencyLimit(name, limit))
    return tuple(limits)


def _retention(doc: Doc, workflow: dict[str, Any], where: str) -> WorkflowRetentionPolicy | None:
    if doc.get(workflow, "stateRetentionPolicy") is None:
        return None
    policy = doc.mapping(workflow, "stateRetentionPolicy", where)
    at = join(where, "stateRetentionPolicy")
    return WorkflowRetentionPolicy(
        any_terminal=doc.duration(policy, "anyTerminal", at, None),
        completed=doc.duration(policy, "completed", at, None),
        failed=doc.duration(policy, "failed", at, None),
        terminated=doc.duration(policy, "terminated", at, None),
    )
