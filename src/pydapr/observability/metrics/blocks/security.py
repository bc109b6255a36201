"""Dapr's mTLS rotation and access control metrics (dapr/dapr pkg/diagnostics/service_monitoring.go,
recorded by pkg/security/sentry.go and pkg/acl/acl.go).

- ``dapr_runtime_mtls_workload_cert_rotated_total`` (app_id): certificates renewed (not the first).
- ``dapr_runtime_mtls_workload_cert_rotated_fail_total`` (app_id, reason): renewals that failed,
  ``sentry_conn`` (Sentry not reached) or ``sign`` (it refused, or sent no valid certificate).
- ``dapr_runtime_acl_{app,global}_policy_action_{allowed,blocked}_total`` (app_id, trustDomain,
  namespace): calls an app policy's ``defaultAction`` decided (app), or the global one (global).

The ACL series are labelled with the CALLER's identity (its app id, trust domain and namespace from
its certificate), as daprd's; a caller without one (no mTLS) has empty labels. daprd declares the
successful rotation counter but never records it; pydapr counts each renewal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydapr.security.acl import APP_POLICY, AccessControl
from pydapr.security.spiffe import SpiffeId

if TYPE_CHECKING:
    # Only an annotation: identity imports cryptography, which a sidecar without mTLS never loads.
    from pydapr.security.identity import WorkloadIdentity

from ._series import counter

_CALLER = ("app_id", "trustDomain", "namespace")

ROTATED = counter(
    "dapr_runtime_mtls_workload_cert_rotated_total",
    "The number of the successful workload certificate rotations.",
    ("app_id",),
)
ROTATION_FAILED = counter(
    "dapr_runtime_mtls_workload_cert_rotated_fail_total",
    "The number of the failed workload certificate rotations.",
    ("app_id", "reason"),
)
APP_ALLOWED = counter(
    "dapr_runtime_acl_app_policy_action_allowed_total",
    "The number of requests allowed by the app specific action specified in the access control policy.",
    _CALLER,
)
GLOBAL_ALLOWED = counter(
    "dapr_runtime_acl_global_policy_action_allowed_total",
    "The number of requests allowed by the global action specified in the access control policy.",
    _CALLER,
)
APP_BLOCKED = counter(
    "dapr_runtime_acl_app_policy_action_blocked_total",
    "The number of requests blocked by the app specific action specified in the access control policy.",
    _CALLER,
)
GLOBAL_BLOCKED = counter(
    "dapr_runtime_acl_global_policy_action_blocked_total",
    "The number of requests blocked by the global action specified in the access control policy.",
    _CALLER,
)


def watch_identity(identity: WorkloadIdentity, app_id: str) -> None:
    """Count the sidecar's certificate renewals and failed renewals."""
    only_app = (app_id,)
    identity.on_rotate(lambda _: ROTATED.inc(only_app))
    identity.on_rotation_failure(lambda reason: ROTATION_FAILED.inc((app_id, reason)))


def _decided(caller: SpiffeId | None, decided_by: str, allowed: bool) -> None:
    labels = (caller.app_id, caller.trust_domain, caller.namespace) if caller else ("", "", "")
    if decided_by == APP_POLICY:
        (APP_ALLOWED if allowed else APP_BLOCKED).inc(labels)
    else:
        (GLOBAL_ALLOWED if allowed else GLOBAL_BLOCKED).inc(labels)


def watch_access_control(*lists: AccessControl | None) -> None:
    """Count every access control decision of these lists."""
    for acl in lists:
        if acl is not None:
            acl.observer = _decided
