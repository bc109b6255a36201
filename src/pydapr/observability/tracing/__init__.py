"""Tracing: W3C trace context accepted, created and propagated on every hop, spans exported as the
Configuration's ``spec.tracing`` says (Zipkin, OTLP over gRPC or HTTP, stdout)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydapr.pipeline import InterceptorSource
from pydapr.resources.models import Configuration


@dataclass
class Tracing:
    """What the runtime holds: the pipeline sources that trace calls, and the exporters to flush."""

    sources: list[InterceptorSource] = field(default_factory=list)

    async def shutdown(self) -> None:
        """Flush and close the exporters (the spans of the last calls are sent before exit)."""


def start_tracing(configuration: Configuration | None, app_id: str, namespace: str) -> Tracing:
    """The sidecar's tracing from its Configuration (nothing is traced yet: issue 14 in progress)."""
    return Tracing()
