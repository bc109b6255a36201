"""The shapes a scrape passes through -- ``Sample``, ``Metric``, ``Collector``, ``Registry`` --
with prometheus_client's names and fields, without prometheus_client.

The sidecar keeps its series in its own dicts and writes the text format itself
(``families.render``); prometheus_client was imported only for these containers and its registry,
and importing it (its exposition module pulls in http.server, wsgiref, urllib.request, gzip ...)
cost every sidecar ~3 MiB and ~27 ms at startup. prometheus_client's registries and encoder still
accept these (the same attributes), and ``render`` hands it what it does not write itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple


class Sample(NamedTuple):
    name: str
    labels: dict[str, str]
    value: float
    timestamp: float | None = None
    exemplar: Any = None
    native_histogram: Any = None


class Metric:
    """One family at one scrape: its name, help text, type and samples."""

    def __init__(self, name: str, documentation: str, typ: str, unit: str = "") -> None:
        self.name = name
        self.documentation = documentation
        self.type = typ
        self.unit = unit
        self.samples: list[Sample] = []

    def add_sample(
        self, name: str, labels: dict[str, str], value: float, timestamp: float | None = None
    ) -> None:
        self.samples.append(Sample(name, labels, value, timestamp))


class Collector:
    """Yields the families it holds at each scrape."""

    def collect(self) -> Iterator[Metric]:
        return iter(())

    def describe(self) -> list[Metric]:
        return []


class Registry:
    """The collectors a metrics port serves, in the order registered."""

    def __init__(self) -> None:
        self._collectors: list[Any] = []

    def register(self, collector: Any) -> None:
        if collector in self._collectors:
            raise ValueError(f"collector already registered: {collector!r}")
        self._collectors.append(collector)

    def unregister(self, collector: Any) -> None:
        self._collectors.remove(collector)

    def collect(self) -> Iterator[Any]:
        for collector in list(self._collectors):
            yield from collector.collect()

    def get_sample_value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """The value of the sample ``name`` with exactly ``labels``; None when there is none
        (prometheus_client's ``CollectorRegistry.get_sample_value``, which tests read)."""
        wanted = labels or {}
        for metric in self.collect():
            for sample in metric.samples:
                if sample.name == name and sample.labels == wanted:
                    return float(sample.value)
        return None
