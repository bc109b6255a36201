"""Whether a sidecar's blocks record metrics: what the metrics core decided at startup
(``--enable-metrics`` and the Configuration's ``spec.metric``), read once by each block."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lifecycle import metric_spec
from ._series import use_latency_buckets, use_rules

if TYPE_CHECKING:
    from pydapr.sidecar.runtime import Runtime


def recording(runtime: Runtime) -> bool:
    """True when the sidecar serves metrics; then ``spec.metric.latencyDistributionBuckets`` and
    ``spec.metric.rules``, if set, apply to the block series as they do to the core's families."""
    if not runtime.metrics.enabled:
        return False
    spec = metric_spec(runtime.configuration)
    if spec.latency_buckets:
        use_latency_buckets(spec.latency_buckets)
    if spec.rules:
        use_rules(spec.rules)
    return True
