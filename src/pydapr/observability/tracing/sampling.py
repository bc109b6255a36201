"""daprd's sampler, and the id generator that lets a new trace's sampling be decided before the SDK
is asked to start a span: at the default rate (0.0001) nearly every new trace is dropped, and the
SDK's ``start_span`` for a span that records nothing cost ~8 µs a call (bench/invoke_hotpath.py).

Imported with the OpenTelemetry SDK, only when an exporter is configured.
"""

from __future__ import annotations

from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, TraceIdRatioBased

# The bits of a trace id a ratio sampler compares against its bound (TraceIdRatioBased.TRACE_ID_LIMIT).
_RATIO_BITS = (1 << 64) - 1


class DaprSampler(ParentBased):
    """daprd's sampler: a sampled parent's decision is kept, a new trace is sampled at ``rate``.

    ``root_bound`` is the bound its ratio sampler compares a new trace's id against (the low 64 bits,
    as the SDK's ``TraceIdRatioBased`` and the OpenTelemetry specification do)."""

    def __init__(self, rate: float) -> None:
        root = TraceIdRatioBased(min(max(rate, 0.0), 1.0))
        super().__init__(root)
        self.root_bound = root.bound


class PresetIdGenerator(RandomIdGenerator):
    """The SDK's random ids; a trace id set in ``preset`` is handed out once, by the next
    ``generate_trace_id``, so the SDK starts a new trace on the id that was already sampled."""

    def __init__(self) -> None:
        self.preset = 0

    def generate_trace_id(self) -> int:
        preset = self.preset
        if preset:
            self.preset = 0
            return preset
        return super().generate_trace_id()

    def random_trace_id(self) -> int:
        return super().generate_trace_id()


def root_bound(sampler: object, ids: object) -> int | None:
    """The bound a new trace's id is sampled under (sampled when its low 64 bits are below it),
    when ``sampler`` is daprd's and ``ids`` can preset the SDK's next trace id; else None.

    The bound is checked against the sampler itself at both sides, so that a sampler that decides
    otherwise is never bypassed."""
    if type(sampler) is not DaprSampler or not isinstance(ids, PresetIdGenerator):
        return None
    bound = sampler.root_bound
    if not 0 < bound <= _RATIO_BITS:
        return None  # rate 1 samples every trace: nothing to decide before the SDK
    # Trace ids whose low bits sit just below and at the bound (high bits set, as real ids have).
    below, at = (1 << 127) | (bound - 1), (1 << 127) | bound
    try:
        sampled = sampler.should_sample(None, below, "probe").decision is Decision.RECORD_AND_SAMPLE
        dropped = sampler.should_sample(None, at, "probe").decision is Decision.DROP
    except Exception:
        return None
    return bound if sampled and dropped else None


def is_sampled(trace_id: int, bound: int) -> bool:
    return trace_id & _RATIO_BITS < bound
