"""A workload identity renewing its certificate from a real CA: a renewal that fails is reported
with daprd's reason and retried; a renewal that succeeds rotates; both are counted in daprd's mTLS
metrics."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

from pydapr.observability.metrics.blocks.security import watch_identity
from pydapr.observability.metrics.registry import REGISTRY
from pydapr.security.ca import CertificateAuthority
from pydapr.security.identity import IdentityError, Svid, WorkloadIdentity
from pydapr.security.spiffe import SpiffeId

SENTRY = SpiffeId("public", "dapr-system", "dapr-sentry")


async def test_a_failed_renewal_is_reported_retried_and_counted() -> None:
    ca = CertificateAuthority.generate("public", SENTRY)
    app_id = f"renew-{uuid.uuid4().hex[:8]}"
    calls: list[str] = []

    async def sign(who: SpiffeId, csr: bytes) -> tuple[bytes, bytes]:
        calls.append("sign")
        if len(calls) == 2:  # the first renewal: Sentry cannot be reached
            raise IdentityError("Sentry at 127.0.0.1:1 did not sign: UNAVAILABLE", reason="sentry_conn")
        issued = ca.sign_csr(csr, who, ttl=dt.timedelta(seconds=2), skew=dt.timedelta(0))
        return issued.pem, ca.trust_anchors_pem

    identity = WorkloadIdentity(SpiffeId("public", "default", app_id), sign)
    failures: list[str] = []
    rotated: list[Svid] = []
    renewed = asyncio.Event()
    identity.on_rotation_failure(failures.append)
    identity.on_rotate(rotated.append)
    identity.on_rotate(lambda _: renewed.set())
    watch_identity(identity, app_id)
    await identity.start()
    try:
        # Renewed at 70 % of 2 s, failed, retried 0.5 s later.
        await asyncio.wait_for(renewed.wait(), 10)
    finally:
        await identity.stop()

    assert failures == ["sentry_conn"]
    assert len(rotated) == 1 and identity.current is rotated[0]
    assert (
        REGISTRY.get_sample_value(
            "dapr_runtime_mtls_workload_cert_rotated_fail_total", {"app_id": app_id, "reason": "sentry_conn"}
        )
        == 1.0
    )
    rotations = REGISTRY.get_sample_value("dapr_runtime_mtls_workload_cert_rotated_total", {"app_id": app_id})
    assert rotations == 1.0
