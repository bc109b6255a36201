"""Dapr's job trigger metrics, as daprd reports them from its scheduler stream (dapr/dapr
pkg/runtime/scheduler/internal/cluster/streamer.go, pkg/diagnostics/component_monitoring.go).

| metric | labels | counts |
|---|---|---|
| ``dapr_component_job_success_count`` | app_id, namespace, operation | job triggers the app took |
| ``dapr_component_job_failure_count`` | app_id, namespace, operation | triggers the app failed or missed |
| ``dapr_component_job_latencies`` | app_id, namespace, operation, success | the app's time per trigger (ms) |

``operation`` is always ``job_trigger_op``. Actor reminders are not jobs here, as in daprd (they
count in ``dapr_runtime_actor_reminders_fired_total``). The scheduler's own ``dapr_scheduler_*``
metrics belong to the scheduler process.
"""

from __future__ import annotations

from ._series import counter, histogram

JOB_TRIGGER_OP = "job_trigger_op"
_COUNT = ("app_id", "namespace", "operation")

SUCCESSES = counter("dapr_component_job_success_count", "The number of successful job triggers.", _COUNT)
FAILURES = counter("dapr_component_job_failure_count", "The number of failed job triggers.", _COUNT)
LATENCIES = histogram(
    "dapr_component_job_latencies",
    "The latency of the response from the app that processed the triggered job.",
    (*_COUNT, "success"),
)


class JobMetrics:
    """One sidecar's job trigger metrics."""

    __slots__ = ("app_id", "namespace")

    def __init__(self, app_id: str, namespace: str) -> None:
        self.app_id = app_id
        self.namespace = namespace

    def triggered(self, ok: bool, elapsed_ms: float) -> None:
        labels = (self.app_id, self.namespace, JOB_TRIGGER_OP)
        (SUCCESSES if ok else FAILURES).inc(labels)
        if elapsed_ms > 0:
            LATENCIES.observe((*labels, "true" if ok else "false"), elapsed_ms)
