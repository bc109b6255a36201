"""The one Prometheus registry a sidecar's metrics live in (one sidecar per process), served on the
metrics port: pydapr's own (``model.Registry``), so a sidecar does not import prometheus_client;
tests read this one alone."""

from __future__ import annotations

from .model import Registry

REGISTRY = Registry()
