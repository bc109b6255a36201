"""Validated Dapr resources as plain frozen values; the loader builds them, the sidecar reads them.

They are frozen msgspec Structs, not dataclasses: the same values (keyword or positional fields,
equality, hash, repr, immutable), but a Struct class costs ~0.1 ms to create where a frozen,
slotted dataclass costs ~1 ms (it compiles its methods), and every sidecar creates all of these
at startup. ``msgspec.structs.replace`` is their ``dataclasses.replace``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
from msgspec import field

__all__ = [
    "APILoggingSpec",
    "APIRule",
    "AccessControlSpec",
    "AppPolicy",
    "BulkSubscribeSpec",
    "CircuitBreakerPolicy",
    "ClientTLS",
    "Component",
    "ComponentTargetPolicy",
    "Configuration",
    "HTTPEndpoint",
    "HandlerSpec",
    "MTLSSpec",
    "MetadataItem",
    "MetricRule",
    "MetricSpec",
    "NameResolutionSpec",
    "NamedConcurrencyLimit",
    "OperationRule",
    "Resiliency",
    "ResiliencyTargets",
    "RetryPolicy",
    "RouteRule",
    "SecretKeyRef",
    "SecretScope",
    "Subscription",
    "TLSDocument",
    "TargetPolicy",
    "TracingSpec",
    "WorkflowAccessPolicy",
    "WorkflowAccessRule",
    "WorkflowOperationRule",
    "WorkflowRetentionPolicy",
    "WorkflowSpec",
]


class SecretKeyRef(msgspec.Struct, frozen=True):
    name: str
    key: str


class MetadataItem(msgspec.Struct, frozen=True):
    """``value`` is None exactly when the value comes from a secret store."""

    name: str
    value: str | None
    secret_key_ref: SecretKeyRef | None = None


def _plain(items: tuple[MetadataItem, ...]) -> dict[str, str]:
    return {item.name: item.value for item in items if item.value is not None}


def _refs(items: tuple[MetadataItem, ...]) -> list[tuple[str, SecretKeyRef]]:
    return [(item.name, item.secret_key_ref) for item in items if item.secret_key_ref is not None]


class Component(msgspec.Struct, frozen=True):
    name: str
    type: str
    version: str
    source: Path
    namespace: str | None = None
    metadata: tuple[MetadataItem, ...] = ()
    ignore_errors: bool = False
    init_timeout: float = 5.0
    secret_store: str | None = None
    scopes: tuple[str, ...] = ()

    @property
    def family(self) -> str:
        """The building block: ``state`` for ``state.redis``, ``bindings`` for ``bindings.kafka``."""
        return self.type.split(".", 1)[0]

    def plain_metadata(self) -> dict[str, str]:
        """Metadata whose values are known now; a repeated name keeps its last value, as in Dapr."""
        return _plain(self.metadata)

    def secret_refs(self) -> list[tuple[str, SecretKeyRef]]:
        """Metadata names still to be read from ``secret_store`` (or the default store)."""
        return _refs(self.metadata)

    def with_values(self, resolved: dict[str, str]) -> dict[str, str]:
        """All metadata, taking secret-backed items from ``resolved`` (keyed by metadata name)."""
        values: dict[str, str] = {}
        for item in self.metadata:
            if item.value is not None:
                values[item.name] = item.value
            elif item.name in resolved:
                values[item.name] = resolved[item.name]
        return values


# --- Configuration ---------------------------------------------------------------------------


class TracingSpec(msgspec.Struct, frozen=True):
    # Dapr samples 1 in 10,000 when samplingRate is absent or unparsable (diagnostics/utils).
    sampling_rate: float = 0.0001
    sampling_rate_given: bool = False  # samplingRate was in the file (OTLP from the environment: 1)
    stdout: bool = False
    zipkin_endpoint: str | None = None
    otel_endpoint: str | None = None
    otel_protocol: str | None = None
    otel_is_secure: bool = True
    otel_headers: tuple[MetadataItem, ...] = ()
    otel_timeout: float | None = None

    @property
    def enabled(self) -> bool:
        return self.sampling_rate != 0


class OperationRule(msgspec.Struct, frozen=True):
    name: str
    action: str
    http_verb: tuple[str, ...] = ()


class AppPolicy(msgspec.Struct, frozen=True):
    app_id: str
    trust_domain: str
    namespace: str
    default_action: str | None = None
    operations: tuple[OperationRule, ...] = ()


class AccessControlSpec(msgspec.Struct, frozen=True):
    default_action: str = "allow"
    trust_domain: str = "public"
    policies: tuple[AppPolicy, ...] = ()


class APIRule(msgspec.Struct, frozen=True):
    name: str
    version: str
    protocol: str | None = None  # "http", "grpc", or None for both


class SecretScope(msgspec.Struct, frozen=True):
    default_access: str = "allow"
    allowed: tuple[str, ...] = ()
    denied: tuple[str, ...] = ()

    def is_allowed(self, key: str) -> bool:
        """Dapr's rule: an allow list wins, then the deny list, then the default."""
        if self.allowed:
            return key in self.allowed
        if key in self.denied:
            return False
        return self.default_access == "allow"


class NameResolutionSpec(msgspec.Struct, frozen=True):
    component: str
    version: str = ""
    configuration: Any = None


class HandlerSpec(msgspec.Struct, frozen=True):
    name: str
    type: str


class MTLSSpec(msgspec.Struct, frozen=True):
    enabled: bool = False
    workload_cert_ttl: float | None = None
    allowed_clock_skew: float | None = None
    sentry_address: str | None = None
    control_plane_trust_domain: str | None = None


class APILoggingSpec(msgspec.Struct, frozen=True):
    enabled: bool | None = None  # None: the sidecar's --enable-api-logging decides
    obfuscate_urls: bool = False
    omit_health_checks: bool = False


class MetricRule(msgspec.Struct, frozen=True):
    """``spec.metric.rules[]``: for one metric (Dapr's name), label → ((replacement, regex) ...)."""

    name: str
    labels: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()


class MetricSpec(msgspec.Struct, frozen=True):
    """``spec.metric`` (or Dapr's older spelling ``spec.metrics``), with Dapr's defaults."""

    enabled: bool = True
    # spec.metric.http: the path label is dropped (False, Dapr 1.14+'s default) or Dapr's legacy
    # per-path label (True); pathMatching lists patterns the path label may take instead.
    increased_cardinality: bool = False
    path_matching: tuple[str, ...] | None = None
    exclude_verbs: bool = False
    latency_buckets: tuple[int, ...] | None = None  # latencyDistributionBuckets (ms)
    rules: tuple[MetricRule, ...] = ()
    record_error_codes: bool = False


class NamedConcurrencyLimit(msgspec.Struct, frozen=True):
    """One ``workflowConcurrencyLimits[]`` / ``activityConcurrencyLimits[]`` entry."""

    name: str
    max_concurrent: int


class WorkflowRetentionPolicy(msgspec.Struct, frozen=True):
    """``spec.workflow.stateRetentionPolicy``: seconds after a workflow ends until its state is
    purged (0: at once), per terminal status; None: that status is kept (unless ``any_terminal``).
    The specific status wins over ``any_terminal``, as in daprd."""

    any_terminal: float | None = None
    completed: float | None = None
    failed: float | None = None
    terminated: float | None = None


class WorkflowSpec(msgspec.Struct, frozen=True):
    """``spec.workflow`` (daprd pkg/config ``WorkflowSpec``). The per-sidecar limits are None when
    not given or not positive (no limit, as daprd's getters); the global ones and the named limits
    are the scheduler's in daprd."""

    max_concurrent_workflow_invocations: int | None = None
    max_concurrent_activity_invocations: int | None = None
    global_max_concurrent_workflow_invocations: int | None = None
    global_max_concurrent_activity_invocations: int | None = None
    workflow_concurrency_limits: tuple[NamedConcurrencyLimit, ...] = ()
    activity_concurrency_limits: tuple[NamedConcurrencyLimit, ...] = ()
    state_retention: WorkflowRetentionPolicy | None = None


class Configuration(msgspec.Struct, frozen=True):
    name: str = "default"
    source: Path | None = None
    spec: dict[str, Any] = field(default_factory=dict)
    tracing: TracingSpec = TracingSpec()
    metrics_enabled: bool = True
    metric: MetricSpec = MetricSpec()
    access_control: AccessControlSpec | None = None
    features: dict[str, bool] = field(default_factory=dict)
    api_allowed: tuple[APIRule, ...] = ()
    api_denied: tuple[APIRule, ...] = ()
    secret_scopes: dict[str, SecretScope] = field(default_factory=dict)
    name_resolution: NameResolutionSpec | None = None
    app_http_pipeline: tuple[str, ...] = ()
    http_pipeline: tuple[str, ...] = ()
    app_http_handlers: tuple[HandlerSpec, ...] = ()
    http_handlers: tuple[HandlerSpec, ...] = ()
    mtls: MTLSSpec | None = None
    api_logging: APILoggingSpec = APILoggingSpec()
    components_deny: tuple[str, ...] = ()
    namespace: str | None = None
    workflow: WorkflowSpec = WorkflowSpec()

    def feature_enabled(self, name: str) -> bool:
        return self.features.get(name, False)


# --- Resiliency ------------------------------------------------------------------------------


class RetryPolicy(msgspec.Struct, frozen=True):
    # Defaults are dapr/kit retry.DefaultConfig: constant 5s, forever, exponential capped at 60s.
    policy: str = "constant"
    duration: float = 5.0
    max_interval: float = 60.0
    max_retries: int = -1
    matching_http_codes: str = ""
    matching_grpc_codes: str = ""


class CircuitBreakerPolicy(msgspec.Struct, frozen=True):
    # Zero values mean these in gobreaker, which Dapr's breaker wraps.
    max_requests: int = 1
    interval: float = 0.0
    timeout: float = 60.0
    trip: str = "consecutiveFailures > 5"


class TargetPolicy(msgspec.Struct, frozen=True):
    timeout: str | None = None
    retry: str | None = None
    circuit_breaker: str | None = None
    circuit_breaker_scope: str | None = None  # actors only: "type", "id" or "both"
    circuit_breaker_cache_size: int = 0  # 0 for components; apps default 100, actors 5000


class ComponentTargetPolicy(msgspec.Struct, frozen=True):
    inbound: TargetPolicy = TargetPolicy()
    outbound: TargetPolicy = TargetPolicy()


class ResiliencyTargets(msgspec.Struct, frozen=True):
    apps: dict[str, TargetPolicy] = field(default_factory=dict)
    actors: dict[str, TargetPolicy] = field(default_factory=dict)
    components: dict[str, ComponentTargetPolicy] = field(default_factory=dict)


class Resiliency(msgspec.Struct, frozen=True):
    name: str
    source: Path
    namespace: str | None = None
    scopes: tuple[str, ...] = ()
    timeouts: dict[str, float] = field(default_factory=dict)
    retries: dict[str, RetryPolicy] = field(default_factory=dict)
    circuit_breakers: dict[str, CircuitBreakerPolicy] = field(default_factory=dict)
    targets: ResiliencyTargets = ResiliencyTargets()


# --- Subscription ----------------------------------------------------------------------------


class RouteRule(msgspec.Struct, frozen=True):
    match: str
    path: str


class BulkSubscribeSpec(msgspec.Struct, frozen=True):
    enabled: bool = False
    # components-contrib's defaults, applied when the YAML leaves them out or sets 0.
    max_messages_count: int = 100
    max_await_duration_ms: int = 1000


class Subscription(msgspec.Struct, frozen=True):
    name: str
    source: Path
    pubsub_name: str
    topic: str
    namespace: str | None = None
    scopes: tuple[str, ...] = ()
    route: str | None = None  # v1alpha1's single route
    rules: tuple[RouteRule, ...] = ()
    default_route: str | None = None
    dead_letter_topic: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    bulk_subscribe: BulkSubscribeSpec | None = None
    api_version: str = "dapr.io/v2alpha1"


# --- HTTPEndpoint ----------------------------------------------------------------------------


class TLSDocument(msgspec.Struct, frozen=True):
    value: str | None = None
    secret_key_ref: SecretKeyRef | None = None


class ClientTLS(msgspec.Struct, frozen=True):
    root_ca: TLSDocument | None = None
    certificate: TLSDocument | None = None
    private_key: TLSDocument | None = None
    renegotiation: str = "Never"


class HTTPEndpoint(msgspec.Struct, frozen=True):
    name: str
    source: Path
    base_url: str
    namespace: str | None = None
    scopes: tuple[str, ...] = ()
    headers: tuple[MetadataItem, ...] = ()
    client_tls: ClientTLS | None = None
    secret_store: str | None = None

    def plain_headers(self) -> dict[str, str]:
        return _plain(self.headers)

    def secret_refs(self) -> list[tuple[str, SecretKeyRef]]:
        return _refs(self.headers)


WORKFLOW_OPERATIONS = ("schedule", "terminate", "raise", "pause", "resume", "purge", "get", "rerun")


class WorkflowOperationRule(msgspec.Struct, frozen=True):
    """``rules[].workflows[]``: the ``operations`` allowed on workflows whose name matches
    ``name`` (exact, or a Go ``path.Match`` glob)."""

    name: str
    operations: tuple[str, ...]


class WorkflowAccessRule(msgspec.Struct, frozen=True):
    """One ``spec.rules[]`` entry: what the ``callers`` (app ids) may do."""

    callers: tuple[str, ...]
    workflows: tuple[WorkflowOperationRule, ...] = ()
    activities: tuple[str, ...] = ()  # activity names or globs the callers may schedule


class WorkflowAccessPolicy(msgspec.Struct, frozen=True):
    """A ``WorkflowAccessPolicy`` (dapr.io/v1alpha1, Dapr 1.18): an allow-list of which apps may
    operate on this app's workflows and schedule its activities. No rules: every cross-app call
    is denied."""

    name: str
    source: Path
    namespace: str | None = None
    scopes: tuple[str, ...] = ()
    rules: tuple[WorkflowAccessRule, ...] = ()
