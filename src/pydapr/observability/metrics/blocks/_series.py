"""Series with daprd's exact Prometheus names, kept in plain dicts and read by one collector.

daprd exports OpenCensus views, whose counters keep the view's name (``dapr_resiliency_count``,
``dapr_runtime_actor_deactivated_total``) where prometheus_client's ``Counter`` would add
``_total`` and a ``_created`` series; dashboards written for daprd query these names. A counter
named ``..._total`` is a counter family of the stem; one that is not (``..._count``) is marked
``bare``, as the metrics core's (pydapr.observability.metrics.families): its ``render`` writes that
family's HELP and TYPE lines with the name as it is, where prometheus_client's would add
``_total``. Recording is one dict update on the event loop; the collector copies each dict before
reading it, so a scrape on another thread never sees one change size under it. A series with no
sample yet is not exported, as an OpenCensus view with no data is not.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator, Sequence

from pydapr.resources.models import MetricRule

from ..labels import Relabel, Rewrites, apply_rewrites
from ..model import Collector, Metric
from ..registry import REGISTRY

Labels = tuple[str, ...]

# daprd's default latency buckets in milliseconds (pkg/config: GetLatencyDistribution).
LATENCY_BUCKETS_MS: tuple[float, ...] = (
    1, 2, 3, 4, 5, 6, 8, 10, 13, 16, 20, 25, 30, 40, 50, 65, 80, 100, 130, 160, 200, 250, 300,
    400, 500, 650, 800, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000,
)  # fmt: skip


class _BareCounter(Metric):
    """A counter family whose samples keep their name, no ``_total`` (read by ``families.render``)."""

    bare = True


class Series:
    kind = "untyped"

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str]) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self.values: dict[Labels, float] = {}
        self.rewrites: Rewrites = ()  # spec.metric.rules for this metric, applied as values come in

    def samples(self, metric: Metric) -> None:
        for labels, value in self.values.copy().items():
            metric.add_sample(self.name, dict(zip(self.labelnames, labels, strict=True)), value)

    def family(self) -> Metric:
        return Metric(self.name, self.documentation, self.kind)

    def metric(self) -> Metric | None:
        if not self.values:
            return None
        metric = self.family()
        self.samples(metric)
        return metric


class Counter(Series):
    """A count that only grows (an OpenCensus ``view.Count()``)."""

    kind = "counter"

    def family(self) -> Metric:
        if self.name.endswith("_total"):
            return Metric(self.name[: -len("_total")], self.documentation, "counter")
        return _BareCounter(self.name, self.documentation, "counter")

    def inc(self, labels: Labels, amount: float = 1.0) -> None:
        if self.rewrites:
            labels = apply_rewrites(labels, self.rewrites)
        values = self.values
        values[labels] = values.get(labels, 0.0) + amount


class Gauge(Series):
    """A value set as it changes (an OpenCensus ``view.LastValue()``)."""

    kind = "gauge"

    def set(self, labels: Labels, value: float) -> None:
        if self.rewrites:
            labels = apply_rewrites(labels, self.rewrites)
        self.values[labels] = value

    def add(self, labels: Labels, amount: float) -> float:
        if self.rewrites:
            labels = apply_rewrites(labels, self.rewrites)
        values = self.values
        value = values[labels] = values.get(labels, 0.0) + amount
        return value


class Histogram(Series):
    """A distribution over fixed bounds (an OpenCensus ``view.Distribution``), in milliseconds."""

    kind = "histogram"

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        buckets: Sequence[float] = LATENCY_BUCKETS_MS,
    ) -> None:
        super().__init__(name, documentation, labelnames)
        self.bounds = tuple(float(b) for b in buckets)
        self.latency = tuple(buckets) == LATENCY_BUCKETS_MS  # follows latencyDistributionBuckets
        # Per label set: one count per bound (not cumulative) plus +Inf, then the sum.
        self.cells: dict[Labels, list[float]] = {}

    def observe(self, labels: Labels, value: float) -> None:
        if self.rewrites:
            labels = apply_rewrites(labels, self.rewrites)
        cells = self.cells.get(labels)
        if cells is None:
            cells = self.cells[labels] = [0.0] * (len(self.bounds) + 2)
        # OpenCensus puts a value equal to a bound in the next bucket; Prometheus' "le" is
        # inclusive, and the exposition below is what daprd serves: bisect_right matches it.
        cells[bisect.bisect_right(self.bounds, value)] += 1
        cells[-1] += value
        self.values[labels] = 1.0  # marks the series as having data

    def samples(self, metric: Metric) -> None:
        for labels, live in self.cells.copy().items():
            cells = list(live)
            base = dict(zip(self.labelnames, labels, strict=True))
            running = 0.0
            for bound, count in zip((*self.bounds, math.inf), cells, strict=False):
                running += count
                metric.add_sample(f"{self.name}_bucket", {**base, "le": _le(bound)}, running)
            metric.add_sample(f"{self.name}_sum", base, cells[-1])
            metric.add_sample(f"{self.name}_count", base, running)


def _le(bound: float) -> str:
    """A bound as Go's ``FormatFloat(b, 'g', -1, 64)`` writes it, as daprd's ``le`` labels are."""
    if math.isinf(bound):
        return "+Inf"
    short = f"{bound:g}"
    return short if float(short) == bound else repr(bound)


_latency_buckets: tuple[float, ...] | None = None  # the Configuration's, once a sidecar set them
_relabel: Relabel | None = None  # the Configuration's spec.metric.rules, once a sidecar set them


def use_rules(rules: Sequence[MetricRule]) -> None:
    """``spec.metric.rules`` for every block series, as the core applies them to its families."""
    global _relabel
    _relabel = Relabel(rules)
    for series in COLLECTOR.series:
        series.rewrites = _relabel.for_metric(series.name, series.labelnames)


def use_latency_buckets(bounds: Sequence[float]) -> None:
    """The Configuration's latency buckets (ms) for every block latency histogram still empty,
    and for those a block module registers later (one sidecar per process)."""
    global _latency_buckets
    _latency_buckets = tuple(float(b) for b in bounds)
    for series in COLLECTOR.series:
        if isinstance(series, Histogram) and series.latency and not series.cells:
            series.bounds = _latency_buckets


class BlockCollector(Collector):
    """Every block series, exported from the sidecar's registry."""

    def __init__(self) -> None:
        self.series: list[Series] = []

    def add(self, series: Series) -> None:
        if _relabel is not None:
            series.rewrites = _relabel.for_metric(series.name, series.labelnames)
        self.series.append(series)

    def collect(self) -> Iterator[Metric]:
        for series in self.series:
            metric = series.metric()
            if metric is not None:
                yield metric


COLLECTOR = BlockCollector()
REGISTRY.register(COLLECTOR)


def counter(name: str, documentation: str, labelnames: Sequence[str]) -> Counter:
    series = Counter(name, documentation, labelnames)
    COLLECTOR.add(series)
    return series


def gauge(name: str, documentation: str, labelnames: Sequence[str]) -> Gauge:
    series = Gauge(name, documentation, labelnames)
    COLLECTOR.add(series)
    return series


def histogram(
    name: str, documentation: str, labelnames: Sequence[str], buckets: Sequence[float] = LATENCY_BUCKETS_MS
) -> Histogram:
    series = Histogram(name, documentation, labelnames, buckets)
    if series.latency and _latency_buckets is not None:
        series.bounds = _latency_buckets
    COLLECTOR.add(series)
    return series
