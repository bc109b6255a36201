"""The local control plane: one background process per pydapr home hosting the control-plane services
(the scheduler and placement today; sentry later), started on demand by ``pydapr run``."""

from pydapr.controlplane.process import ensure_running, status, stop
from pydapr.controlplane.state import ControlPlane, ControlPlaneError

__all__ = ["ControlPlane", "ControlPlaneError", "ensure_running", "status", "stop"]
