"""Tracing: W3C trace context accepted, created and propagated on every hop, spans exported as the
Configuration's ``spec.tracing`` says (Zipkin, OTLP over gRPC or HTTP, stdout).

As daprd: the sampler is parent-based over a trace-id ratio (``samplingRate``; "0" turns tracing
off), the resource's ``service.name`` is the app id (``OTEL_SERVICE_NAME`` wins when set), spans
are batched to every exporter named. Tracing that cannot show anything (rate 0, or no exporter)
adds no interceptor, so every chain stays as it was and costs nothing; the transports still pass a
caller's ``traceparent`` on unchanged.

Such a sidecar never imports the OpenTelemetry SDK or API either (~8 MB and ~0.15 s at startup): the
SDK is imported by ``start_tracing`` once an exporter is named, the span source with it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydapr.pipeline import InterceptorSource
from pydapr.resources.models import Configuration, TracingSpec

from .exporters import build_exporters
from .otlp_env import with_environment

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.sdk.trace.sampling import Sampler

    from .source import TracingSource

log = logging.getLogger("pydapr.tracing")

EXPORT_BATCH_SIZE = 64

__all__ = ["Tracing", "TracingSource", "dapr_sampler", "service_name", "start_tracing"]


def __getattr__(name: str) -> Any:
    # ``TracingSource`` stays importable from here without importing OpenTelemetry with the package.
    if name == "TracingSource":
        from .source import TracingSource

        return TracingSource
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class Tracing:
    """What the runtime holds: the pipeline sources that trace calls, and the exporters to flush."""

    sources: list[InterceptorSource] = field(default_factory=list)
    provider: TracerProvider | None = None

    async def shutdown(self) -> None:
        """Flush and close the exporters (the spans of the last calls are sent before exit)."""
        provider, self.provider = self.provider, None
        if provider is None:
            return
        # The SDK's flush blocks (its exporters are synchronous clients run from the batch
        # processor's own thread); waiting for it in a thread keeps the loop serving meanwhile.
        await asyncio.to_thread(provider.shutdown)


def dapr_sampler(rate: float) -> Sampler:
    """daprd's sampler: a sampled parent's decision is kept, a new trace is sampled at ``rate``."""
    from .sampling import DaprSampler

    return DaprSampler(rate)


def service_name(app_id: str) -> str:
    return os.environ.get("OTEL_SERVICE_NAME") or app_id


def start_tracing(configuration: Configuration | None, app_id: str, namespace: str) -> Tracing:
    """The sidecar's tracing from its Configuration (and the OTLP environment variables, as daprd):
    sources for the pipeline, and the provider. ValueError for OTLP variables that do not parse."""
    spec = configuration.tracing if configuration is not None else TracingSpec()
    spec = with_environment(spec, os.environ)
    if spec.sampling_rate == 0:
        return Tracing()
    exporters = build_exporters(spec)
    if not exporters:
        return Tracing()
    from .source import TracingSource

    provider = tracer_provider(app_id, spec.sampling_rate, exporters)
    tracer = provider.get_tracer("pydapr")
    log.info(
        "tracing: sampling %g of new traces, exporting to %s",
        spec.sampling_rate,
        ", ".join(type(e).__module__.rsplit(".", 2)[-2] for e in exporters),
    )
    return Tracing(sources=[TracingSource(tracer, app_id)], provider=provider)


def tracer_provider(app_id: str, rate: float, exporters: list[SpanExporter]) -> TracerProvider:
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from .sampling import PresetIdGenerator

    provider = TracerProvider(
        sampler=dapr_sampler(rate),
        resource=Resource.create({SERVICE_NAME: service_name(app_id)}),
        # The SDK's random ids, with a way to start a new trace on an id already found sampled
        # (TracingSource decides a new trace's sampling before asking the SDK for a span).
        id_generator=PresetIdGenerator(),
    )
    # Smaller batches than the SDK's 512: encoding a batch holds the GIL, and at full sampling one
    # of 512 spans showed as a p99 stall of the calls served meanwhile (bench/tracing.py).
    batch = None if "OTEL_BSP_MAX_EXPORT_BATCH_SIZE" in os.environ else EXPORT_BATCH_SIZE
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=batch))
    return provider
