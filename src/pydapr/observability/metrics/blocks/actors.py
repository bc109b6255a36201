"""Dapr's actor metrics (dapr/dapr pkg/diagnostics/service_monitoring.go), recorded where daprd does.

| metric | counts |
|---|---|
| ``dapr_runtime_actor_rebalanced_total`` | each actor halted: moved away by placement, idle, shut down (daprd's ``halt``) |
| ``dapr_runtime_actor_deactivated_total`` | each deactivation the app acknowledged |
| ``dapr_runtime_actor_deactivated_failed_total`` | each deactivation the app refused or did not answer |
| ``dapr_runtime_actor_pending_actor_calls`` | calls (and timers, reminders) waiting for their actor's turn |
| ``dapr_runtime_actor_timers`` | timers active on this sidecar |
| ``dapr_runtime_actor_timers_fired_total`` | timer firings, ``success`` = the app took it |
| ``dapr_runtime_actor_reminders_fired_total`` | reminder triggers from the scheduler, ``success`` = the actor took it |

All are labelled ``app_id`` and ``actor_type``. daprd declares ``dapr_runtime_actor_reminders``
but records it nowhere, and has no activation count: neither is served here.
"""  # noqa: E501

from __future__ import annotations

from ._series import counter, gauge

_TYPE = ("app_id", "actor_type")
_FIRED = ("app_id", "actor_type", "success")

REBALANCED = counter(
    "dapr_runtime_actor_rebalanced_total", "The number of the actor rebalance requests.", _TYPE
)
DEACTIVATED = counter(
    "dapr_runtime_actor_deactivated_total", "The number of the successful actor deactivation.", _TYPE
)
DEACTIVATION_FAILED = counter(
    "dapr_runtime_actor_deactivated_failed_total", "The number of the failed actor deactivation.", _TYPE
)
PENDING_CALLS = gauge(
    "dapr_runtime_actor_pending_actor_calls",
    "The number of pending actor calls waiting to acquire the per-actor lock.",
    _TYPE,
)
TIMERS = gauge("dapr_runtime_actor_timers", "The number of actor timer requests.", _TYPE)
TIMERS_FIRED = counter(
    "dapr_runtime_actor_timers_fired_total", "The number of actor timers fired requests.", _FIRED
)
REMINDERS_FIRED = counter(
    "dapr_runtime_actor_reminders_fired_total", "The number of actor reminders fired requests.", _FIRED
)


class ActorMetrics:
    """One sidecar's actor metrics, for its app id."""

    __slots__ = ("app_id",)

    def __init__(self, app_id: str) -> None:
        self.app_id = app_id

    def halted(self, actor_type: str) -> None:
        REBALANCED.inc((self.app_id, actor_type))

    def deactivated(self, actor_type: str, ok: bool) -> None:
        (DEACTIVATED if ok else DEACTIVATION_FAILED).inc((self.app_id, actor_type))

    def waiting(self, actor_type: str, change: int) -> None:
        """A call starts (+1) or stops (-1) waiting for its turn."""
        PENDING_CALLS.add((self.app_id, actor_type), change)

    def timers(self, actor_type: str, change: int) -> None:
        TIMERS.add((self.app_id, actor_type), change)

    def timer_fired(self, actor_type: str, success: bool) -> None:
        TIMERS_FIRED.inc((self.app_id, actor_type, "true" if success else "false"))

    def reminder_fired(self, actor_type: str, success: bool) -> None:
        REMINDERS_FIRED.inc((self.app_id, actor_type, "true" if success else "false"))
