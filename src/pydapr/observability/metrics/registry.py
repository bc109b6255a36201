"""The one Prometheus registry a sidecar's metrics live in (one sidecar per process), served on the
metrics port. Not prometheus_client's default registry: the process and platform collectors it
carries are added where the server is built, and tests can read this one alone."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

REGISTRY = CollectorRegistry(auto_describe=True)
