"""The jobs building block in the sidecar: the API on both transports and triggers from the scheduler."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pydapr.jobs.api import JobsAPI
from pydapr.security.spiffe import SCHEDULER_APP_ID
from pydapr.sidecar.block import BuildingBlock

if TYPE_CHECKING:
    from pydapr.api.http.router import Router
    from pydapr.jobs.client import SchedulerClient
    from pydapr.observability.metrics.blocks.jobs import JobMetrics
    from pydapr.sidecar.runtime import Runtime

log = logging.getLogger("pydapr.jobs")


def scheduler_addresses(value: str | None) -> list[str]:
    """``--scheduler-host-address`` is one address or a comma-separated list (one per replica)."""
    return [a.strip() for a in (value or "").split(",") if a.strip()]


class JobsBlock(BuildingBlock):
    name = "jobs"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        self.channel = runtime.app_channel
        self.addresses = scheduler_addresses(runtime.options.scheduler_host_address)
        self.client: SchedulerClient | None = None
        if self.addresses:  # the client (and the scheduler's messages) only with a scheduler
            from pydapr.jobs.client import SchedulerClient

            self.client = SchedulerClient(
                self.addresses,
                runtime.namespace,
                runtime.app_id,
                open_channel=runtime.control_plane_channels(SCHEDULER_APP_ID),
            )
        if self.client is not None and runtime.mtls is not None:
            client = self.client
            runtime.mtls.on_rotate(lambda _: client.renew_channels())
        self.api = JobsAPI(self.client, runtime.app_id, runtime.namespace)

    def register_http(self, router: Router) -> None:
        from pydapr.api.http.jobs import register

        register(router, self.api)

    def grpc_handler(self) -> object:
        from pydapr.api.grpc.jobs import JobsGrpc

        return JobsGrpc(self.api)

    def metadata(self) -> dict[str, Any]:
        if self.client is None:
            return {}
        connected = [a for a, ok in zip(self.addresses, self.client.connected, strict=True) if ok]
        return {"scheduler": {"connected_addresses": connected}}

    async def start(self) -> None:
        # Like daprd, only a sidecar with an app to deliver to watches for triggers.
        if self.client is not None and self.channel.configured:
            from pydapr.jobs.delivery import TriggerDelivery

            self.client.watch(TriggerDelivery(self.channel, job_metrics(self.runtime)))
            log.info("watching the scheduler at %s for job triggers", ", ".join(self.addresses))

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.close()


def job_metrics(runtime: Runtime) -> JobMetrics | None:
    """Dapr's job trigger metrics for this sidecar, when it serves metrics."""
    from pydapr.observability.metrics.blocks.sidecar import recording

    if not recording(runtime):
        return None
    from pydapr.observability.metrics.blocks.jobs import JobMetrics

    return JobMetrics(runtime.app_id, runtime.namespace)
