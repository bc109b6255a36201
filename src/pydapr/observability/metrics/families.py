"""Counters and histograms with Dapr's exact series names, collected into the one registry.

prometheus_client's own ``Counter`` always exposes ``<name>_total``, but most of daprd's counters
(OpenCensus views: ``dapr_http_server_request_count``) have no such suffix, and dashboards query the
names daprd serves. So the sidecar's families are plain dicts of label values → numbers, exposed
through a collector (``pydapr.observability.metrics.model``) and written by ``render``.
Recording is a dict update on the event loop: no lock, no per-call allocation beyond the label
tuple.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from .labels import Rewrites, apply_rewrites
from .model import Collector, Metric, Sample

Labels = tuple[str, ...]


class _BareCounter(Metric):
    """A counter whose samples keep their name (no ``_total`` appended), as daprd serves it."""

    bare = True


class CounterFamily:
    __slots__ = ("doc", "label_names", "name", "rewrites", "values")

    def __init__(self, name: str, doc: str, label_names: Sequence[str], rewrites: Rewrites = ()) -> None:
        self.name = name
        self.doc = doc
        self.label_names = tuple(label_names)
        self.rewrites = rewrites  # spec.metric.rules for this metric, applied before the value counts
        self.values: dict[Labels, float] = {}

    def inc(self, labels: Labels, amount: float = 1.0) -> None:
        if self.rewrites:
            labels = apply_rewrites(labels, self.rewrites)
        values = self.values
        values[labels] = values.get(labels, 0.0) + amount

    def metric(self) -> Metric:
        if self.name.endswith("_total"):
            metric = Metric(self.name[: -len("_total")], self.doc, "counter")
        else:
            metric = _BareCounter(self.name, self.doc, "counter")
        # A copy: a scrape from another thread never sees the dict change size under it.
        for labels, value in self.values.copy().items():
            metric.add_sample(self.name, _label_dict(self.label_names, labels), value)
        return metric


class HistogramFamily:
    __slots__ = ("bounds", "doc", "label_names", "le", "name", "rewrites", "values")

    def __init__(
        self,
        name: str,
        doc: str,
        label_names: Sequence[str],
        bounds: Sequence[float],
        rewrites: Rewrites = (),
    ) -> None:
        self.name = name
        self.rewrites = rewrites
        self.doc = doc
        self.label_names = tuple(label_names)
        self.bounds = tuple(bounds)
        self.le = (*(_go_number(b) for b in self.bounds), "+Inf")
        # Per label values: [count per bucket ..., +Inf bucket, sum]
        self.values: dict[Labels, list[float]] = {}

    def observe(self, labels: Labels, value: float) -> None:
        if self.rewrites:
            labels = apply_rewrites(labels, self.rewrites)
        cells = self.values.get(labels)
        if cells is None:
            cells = self.values[labels] = [0.0] * (len(self.bounds) + 2)
        # As daprd's OpenCensus views count (a value lands in the first bucket whose bound is
        # greater than it), so a value equal to a bound is in the next bucket, as daprd serves it.
        cells[bisect_right(self.bounds, value)] += 1
        cells[-1] += value

    def metric(self) -> Metric:
        metric = Metric(self.name, self.doc, "histogram")
        for labels, live in self.values.copy().items():
            cells = list(live)  # one consistent snapshot of the buckets, the sum and the count
            base = _label_dict(self.label_names, labels)
            running = 0.0
            for le, count in zip(self.le, cells, strict=False):
                running += count
                metric.add_sample(self.name + "_bucket", {**base, "le": le}, running)
            metric.add_sample(self.name + "_sum", base, cells[-1])
            metric.add_sample(self.name + "_count", base, running)
        return metric


Family = CounterFamily | HistogramFamily


class FamilyCollector(Collector):
    """Hands the registry a snapshot of some families at each scrape."""

    def __init__(self, families: Iterable[Family]) -> None:
        self.families = list(families)

    def collect(self) -> Iterator[Metric]:
        for family in self.families:
            if family.values:
                yield family.metric()


class _One(Collector):
    def __init__(self, metric: Metric) -> None:
        self.metric = metric

    def collect(self) -> Iterator[Metric]:
        yield self.metric


_TYPES = {"counter": "counter", "gauge": "gauge", "histogram": "histogram", "unknown": "untyped"}


def render(registry: Any) -> bytes:
    """The Prometheus text format (0.0.4) of everything in ``registry`` (a ``model.Registry`` or
    prometheus_client's).

    Counters, gauges, histograms and untyped families are written here, a few times faster than
    prometheus_client's encoder (which validates every label name of every sample); any other
    type goes through that encoder, imported then."""
    parts: list[str] = []
    for metric in registry.collect():
        kind = _TYPES.get(metric.type)
        if kind is None or not all(_plain(sample) for sample in metric.samples):
            # prometheus_client's own families (_created series, timestamps): its encoder knows them.
            from prometheus_client import generate_latest

            parts.append(generate_latest(_One(metric)).decode())  # type: ignore[arg-type]
            continue
        # A counter's TYPE line names its samples: "<name>_total", or the bare name daprd uses.
        bare = kind != "counter" or getattr(metric, "bare", False)
        name = metric.name if bare else metric.name + "_total"
        doc = metric.documentation.replace("\\", r"\\").replace("\n", r"\n")
        parts.append(f"# HELP {name} {doc}\n# TYPE {name} {kind}\n")
        parts.extend(_sample_line(s.name, s.labels, s.value) for s in metric.samples)
    return "".join(parts).encode()


def _plain(sample: Sample) -> bool:
    return sample.timestamp is None and not sample.name.endswith("_created")


def _sample_line(name: str, labels: dict[str, str], value: float) -> str:
    if labels:
        pairs = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        return f"{name}{{{pairs}}} {_go_float(value)}\n"
    return f"{name} {_go_float(value)}\n"


def _escape(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")
    return value


def _go_float(value: float) -> str:
    if value == _INF:
        return "+Inf"
    if value == -_INF:
        return "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value))


_INF = float("inf")


def _label_dict(names: Labels, values: Labels) -> dict[str, str]:
    return dict(zip(names, values, strict=True))


def _go_number(bound: float) -> str:
    # As Go's strconv.FormatFloat(b, 'f', -1, 64) writes a bucket bound: 1, 2.5, 1048576.
    return str(int(bound)) if float(bound).is_integer() else repr(float(bound))
