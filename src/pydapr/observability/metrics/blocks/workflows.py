"""Dapr's workflow metrics (dapr/dapr pkg/diagnostics/workflow_monitoring.go, Dapr 1.15+ names).

| metric | labels | counts |
|---|---|---|
| ``dapr_runtime_workflow_operation_count`` / ``_latency`` | operation, status | ``create_workflow``, ``add_event`` (raise, terminate, suspend, resume), ``purge_workflow`` calls, ``success`` / ``failed`` |
| ``dapr_runtime_workflow_execution_count`` / ``_latency`` | workflow_name, status | workflows ending: ``success``, ``failed``, ``terminated``; the latency from the first run |
| ``dapr_runtime_workflow_activity_execution_count`` / ``_latency`` | activity_name, status | activities run: ``success``, ``failed`` |
| ``dapr_runtime_workflow_scheduling_latency`` | workflow_name | from the requested (or scheduled) start to the first run |
| ``dapr_runtime_workflow_acl_action_allowed_total`` / ``_denied_total`` | src_app_id, operation, type | calls a WorkflowAccessPolicy decided (pkg/diagnostics/service_monitoring.go): type ``workflow`` / ``activity`` / ``reminder`` |

Every series also carries ``app_id`` and ``namespace`` (the access-policy ones only ``app_id``, as
daprd's); latencies are histograms in milliseconds over daprd's default buckets.
"""  # noqa: E501

from __future__ import annotations

from ._series import counter, histogram

_OPERATION = ("app_id", "namespace", "operation", "status")
_WORKFLOW = ("app_id", "namespace", "workflow_name", "status")
_ACTIVITY = ("app_id", "namespace", "activity_name", "status")

OPERATIONS = counter(
    "dapr_runtime_workflow_operation_count",
    "The number of successful/failed workflow operation requests.",
    _OPERATION,
)
OPERATION_LATENCY = histogram(
    "dapr_runtime_workflow_operation_latency",
    "The latencies of responses for workflow operation requests.",
    _OPERATION,
)
EXECUTIONS = counter(
    "dapr_runtime_workflow_execution_count",
    "The number of successful/failed/terminated/recoverable workflow executions.",
    _WORKFLOW,
)
EXECUTION_LATENCY = histogram(
    "dapr_runtime_workflow_execution_latency",
    "The total time taken to run workflow to completion.",
    _WORKFLOW,
)
ACTIVITIES = counter(
    "dapr_runtime_workflow_activity_execution_count",
    "The number of successful/failed/recoverable activity executions.",
    _ACTIVITY,
)
ACTIVITY_LATENCY = histogram(
    "dapr_runtime_workflow_activity_execution_latency",
    "The total time taken to run an activity to completion.",
    _ACTIVITY,
)
SCHEDULING_LATENCY = histogram(
    "dapr_runtime_workflow_scheduling_latency",
    "Interval between workflow execution request and workflow execution.",
    ("app_id", "namespace", "workflow_name"),
)

_ACL = ("app_id", "src_app_id", "operation", "type")
ACL_ALLOWED = counter(
    "dapr_runtime_workflow_acl_action_allowed_total",
    "The number of workflow/activity operations allowed by workflow access policy.",
    _ACL,
)
ACL_DENIED = counter(
    "dapr_runtime_workflow_acl_action_denied_total",
    "The number of workflow/activity operations denied by workflow access policy.",
    _ACL,
)

CREATE_WORKFLOW, ADD_EVENT, PURGE_WORKFLOW = "create_workflow", "add_event", "purge_workflow"
SUCCESS, FAILED, TERMINATED = "success", "failed", "terminated"


class WorkflowMetrics:
    """One sidecar's workflow metrics. Latencies are in milliseconds; daprd records none of 0."""

    __slots__ = ("app_id", "namespace")

    def __init__(self, app_id: str, namespace: str) -> None:
        self.app_id = app_id
        self.namespace = namespace

    def operation(self, operation: str, ok: bool, elapsed_ms: float) -> None:
        labels = (self.app_id, self.namespace, operation, SUCCESS if ok else FAILED)
        OPERATIONS.inc(labels)
        if elapsed_ms > 0:
            OPERATION_LATENCY.observe(labels, elapsed_ms)

    def execution(self, workflow_name: str, status: str, elapsed_ms: float) -> None:
        labels = (self.app_id, self.namespace, workflow_name, status)
        EXECUTIONS.inc(labels)
        if elapsed_ms > 0:
            EXECUTION_LATENCY.observe(labels, elapsed_ms)

    def activity(self, activity_name: str, ok: bool, elapsed_ms: float) -> None:
        labels = (self.app_id, self.namespace, activity_name, SUCCESS if ok else FAILED)
        ACTIVITIES.inc(labels)
        if elapsed_ms > 0:
            ACTIVITY_LATENCY.observe(labels, elapsed_ms)

    def scheduled(self, workflow_name: str, elapsed_ms: float) -> None:
        if elapsed_ms > 0:
            SCHEDULING_LATENCY.observe((self.app_id, self.namespace, workflow_name), elapsed_ms)

    def access(self, caller: str, kind: str, operation: str, allowed: bool) -> None:
        """A call a WorkflowAccessPolicy decided: ``kind`` workflow, activity or reminder."""
        (ACL_ALLOWED if allowed else ACL_DENIED).inc((self.app_id, caller, operation, kind))
