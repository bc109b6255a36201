"""Whether a sidecar's blocks record metrics: what the metrics core decided at startup
(``--enable-metrics`` and the Configuration's ``spec.metric``), read once by each block."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lifecycle import metric_spec
from ._series import use_latency_buckets

if TYPE_CHECKING:
    from pydapr.sidecar.runtime import Runtime


def recording(runtime: Runtime) -> bool:
    """True when the sidecar serves metrics; then ``spec.metric.latencyDistributionBuckets``, if
    set, is applied to the block latency histograms as it is to the core's."""
    if not runtime.metrics.enabled:
        return False
    buckets = metric_spec(runtime.configuration).latency_buckets
    if buckets:
        use_latency_buckets(buckets)
    return True
