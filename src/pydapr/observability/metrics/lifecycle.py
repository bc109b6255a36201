"""What the runtime starts for metrics: the families, their pipeline source and the metrics port.

Off (``--enable-metrics=false`` or the Configuration's ``spec.metric.enabled: false``) means no
server, no source and so no interceptor: every chain stays as it was.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from pydapr.http.server import HttpServer
from pydapr.resources.models import Configuration, MetricSpec

from . import error_codes
from .catalog import SidecarMetrics
from .families import FamilyCollector
from .registry import REGISTRY
from .server import start_metrics_server
from .source import ComponentType, IsRemoteApp, MetricsSource

log = logging.getLogger("pydapr.metrics")


@dataclass
class Metrics:
    """The runtime's handle; ``source`` is None when metrics are off."""

    families: SidecarMetrics | None = None
    source: MetricsSource | None = None
    server: HttpServer | None = None
    port: int = 0
    _collector: FamilyCollector | None = field(default=None, repr=False)

    @property
    def enabled(self) -> bool:
        return self.families is not None

    async def serve(self, host: str, port: int) -> None:
        """Listen on the metrics port (OSError when it cannot be bound)."""
        if self.families is None:
            return
        self.server = await start_metrics_server(REGISTRY, host, port)
        self.port = self.server.port
        log.info("metrics server started on %s:%d/metrics", host or "0.0.0.0", self.port)

    async def stop(self, grace: float) -> None:
        server, self.server = self.server, None
        if server is not None:
            await server.shutdown(grace)
        collector, self._collector = self._collector, None
        if collector is not None:
            REGISTRY.unregister(collector)


def metric_spec(configuration: Configuration | None) -> MetricSpec:
    return configuration.metric if configuration is not None else MetricSpec()


def start_metrics(
    enabled_flag: bool,
    configuration: Configuration | None,
    *,
    app_id: str,
    namespace: str,
    app_uses_grpc: bool,
    health_check_path: str,
    component_type: ComponentType,
    is_remote_app: IsRemoteApp,
) -> Metrics:
    spec = metric_spec(configuration)
    if not enabled_flag or not spec.enabled:
        return Metrics()
    families = SidecarMetrics(spec)
    if spec.record_error_codes:
        error_codes.record_error_codes(app_id)
    collector = FamilyCollector(families.families)
    REGISTRY.register(collector)
    source = MetricsSource(
        families,
        spec,
        app_id=app_id,
        namespace=namespace,
        app_uses_grpc=app_uses_grpc,
        health_check_path=health_check_path,
        component_type=component_type,
        is_remote_app=is_remote_app,
    )
    return Metrics(families=families, source=source, _collector=collector)
