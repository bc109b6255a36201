"""``spec.api.allowed`` / ``spec.api.denied``: which Dapr APIs this sidecar serves, as daprd decides.

HTTP (pkg/api/http/endpoints): a route is served unless a denied rule matches it, and, when there
are allowed rules, only if one matches. A rule ``{name, version}`` matches a route when
``<version>/<name>`` is its group (``v1/state``, ``v1alpha1/state`` for the query API) or a prefix
of ``<version>/<route>`` as written in the URL (``v1.0/state`` matches ``/v1.0/state/{store}/{key}``).
A route that is not served answers as an unknown path does. ``/v1.0/healthz`` is always served.

gRPC (pkg/api/grpc/endpoints.go): each ``<name>.<version>`` stands for a fixed list of
``dapr.proto.runtime.v1.Dapr`` methods; only those are checked (proxied calls to apps are not), and
a refused call ends with UNIMPLEMENTED "Not Implemented" and Dapr's ErrorInfo.

A rule applies to the protocol it names; like daprd, a rule without ``protocol`` applies to none,
which ``problems()`` reports as a startup warning, so the user is not left believing it protects.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pydapr.resources import Configuration
from pydapr.resources.models import APIRule

DAPR_RPC_PREFIX = "/dapr.proto.runtime."
_DAPR = "/dapr.proto.runtime.v1.Dapr/"

# The methods each gRPC rule stands for, by "<name>.<version>" (daprd's table).
GRPC_GROUPS: dict[str, tuple[str, ...]] = {
    "invoke.v1": ("InvokeService",),
    "state.v1": (
        "GetState",
        "GetBulkState",
        "SaveState",
        "DeleteState",
        "DeleteBulkState",
        "ExecuteStateTransaction",
    ),
    "state.v1alpha1": ("QueryStateAlpha1",),
    "publish.v1": ("PublishEvent", "BulkPublishEvent"),
    "publish.v1alpha1": ("BulkPublishEventAlpha1",),
    "bindings.v1": ("InvokeBinding",),
    "secrets.v1": ("GetSecret", "GetBulkSecret"),
    "actors.v1": (
        "RegisterActorTimer",
        "UnregisterActorTimer",
        "RegisterActorReminder",
        "GetActorReminder",
        "UnregisterActorReminder",
        "UnregisterActorRemindersByType",
        "ListActorReminders",
        "GetActorState",
        "ExecuteActorStateTransaction",
        "InvokeActor",
    ),
    "actors.v1alpha1": ("SubscribeActorEventsAlpha1",),
    "metadata.v1": ("GetMetadata", "SetMetadata"),
    "configuration.v1alpha1": (
        "GetConfigurationAlpha1",
        "SubscribeConfigurationAlpha1",
        "UnsubscribeConfigurationAlpha1",
    ),
    "configuration.v1": ("GetConfiguration", "SubscribeConfiguration", "UnsubscribeConfiguration"),
    "lock.v1alpha1": ("TryLockAlpha1",),
    "unlock.v1alpha1": ("UnlockAlpha1",),
    "subtlecrypto.v1alpha1": (
        "SubtleGetKeyAlpha1",
        "SubtleEncryptAlpha1",
        "SubtleDecryptAlpha1",
        "SubtleSignAlpha1",
        "SubtleVerifyAlpha1",
        "SubtleWrapKeyAlpha1",
        "SubtleUnwrapKeyAlpha1",
    ),
    "crypto.v1alpha1": ("EncryptAlpha1", "DecryptAlpha1"),
    "workflows.v1alpha1": tuple(
        f"{verb}WorkflowAlpha1"
        for verb in ("Start", "Get", "Terminate", "RaiseEvent", "Purge", "Pause", "Resume")
    ),
    "workflows.v1beta1": tuple(
        f"{verb}WorkflowBeta1"
        for verb in ("Start", "Get", "Terminate", "RaiseEvent", "Purge", "Pause", "Resume")
    ),
    "jobs.v1alpha1": (
        "ScheduleJobAlpha1",
        "DeleteJobAlpha1",
        "GetJobAlpha1",
        "DeleteJobsByPrefixAlpha1",
        "ListJobsAlpha1",
    ),
    "jobs.v1": ("ScheduleJob", "DeleteJob", "GetJob", "DeleteJobsByPrefix", "ListJobs"),
    "shutdown.v1": ("Shutdown",),
    "subscribe.v1alpha1": ("SubscribeTopicEventsAlpha1",),
    "conversation.v1alpha1": ("ConverseAlpha1",),
    "conversation.v1alpha2": ("ConverseAlpha2",),
}

# URL versions and the group versions they stand for.
_URL_VERSIONS = {"v1.0": "v1", "v1.0-alpha1": "v1alpha1", "v1.0-alpha2": "v1alpha2", "v1.0-beta1": "v1beta1"}
_ALWAYS_SERVED = ("v1.0/healthz",)


@dataclass(frozen=True, slots=True)
class ApiAccess:
    """The compiled rules; ``ApiAccess.from_configuration(config)`` once at startup."""

    http_allowed: frozenset[str] = frozenset()
    http_denied: frozenset[str] = frozenset()
    grpc_allowed: frozenset[str] = frozenset()
    grpc_denied: frozenset[str] = frozenset()
    unscoped: tuple[APIRule, ...] = ()  # rules naming no protocol: applied to none, as daprd

    @classmethod
    def from_configuration(cls, config: Configuration | None) -> ApiAccess:
        if config is None:
            return cls()
        rules = (*config.api_allowed, *config.api_denied)
        return cls(
            http_allowed=_http_keys(config.api_allowed),
            http_denied=_http_keys(config.api_denied),
            grpc_allowed=_grpc_methods(config.api_allowed),
            grpc_denied=_grpc_methods(config.api_denied),
            unscoped=tuple(r for r in rules if r.protocol is None),
        )

    @property
    def restricts_http(self) -> bool:
        return bool(self.http_allowed or self.http_denied)

    @property
    def restricts_grpc(self) -> bool:
        return bool(self.grpc_allowed or self.grpc_denied)

    def serves_route(self, pattern: str) -> bool:
        """Whether the HTTP route ``/v1.0/state/{storeName}/{key}`` (as registered) is served."""
        if not self.restricts_http:
            return True
        route = pattern.strip("/")
        if route.startswith(_ALWAYS_SERVED):
            return True
        if self.http_denied and _route_matches(route, self.http_denied):
            return False
        return not self.http_allowed or _route_matches(route, self.http_allowed)

    def serves_method(self, full_method: str) -> bool:
        """Whether the gRPC method ``/dapr.proto.runtime.v1.Dapr/GetState`` is served."""
        if not full_method.startswith(DAPR_RPC_PREFIX):
            return True  # proxied to an app: not the Dapr API
        if full_method in self.grpc_denied:
            return False
        return not self.grpc_allowed or full_method in self.grpc_allowed

    def problems(self, where: str) -> Iterator[str]:
        """Startup warnings: rules that cannot take effect."""
        for rule in self.unscoped:
            yield (
                f"{where}: spec.api rule {rule.name}/{rule.version} names no protocol and applies to "
                "neither HTTP nor gRPC (as in daprd); add protocol: http or protocol: grpc"
            )


def _http_keys(rules: Iterable[APIRule]) -> frozenset[str]:
    return frozenset(f"{r.version}/{r.name}" for r in rules if r.protocol == "http")


def _grpc_methods(rules: Iterable[APIRule]) -> frozenset[str]:
    out: set[str] = set()
    for rule in rules:
        if rule.protocol == "grpc":
            out.update(_DAPR + m for m in GRPC_GROUPS.get(f"{rule.name}.{rule.version}", ()))
    return frozenset(out)


def _route_matches(route: str, keys: frozenset[str]) -> bool:
    """daprd's two ways: the route's group key, then any key that prefixes ``<version>/<route>``."""
    url_version, _, rest = route.partition("/")
    group = rest.partition("/")[0]
    version = _URL_VERSIONS.get(url_version)
    if version is not None and f"{version}/{group}" in keys:
        return True
    return any(route.startswith(key) for key in keys)
