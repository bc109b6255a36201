"""Builds ``spec.httpPipeline`` and ``spec.appHttpPipeline`` from the Configuration and the loaded
middleware components (filled in by the middleware-pipeline work; see docs/middleware.md)."""

from __future__ import annotations

from pydapr.middleware.contract import Middleware
from pydapr.resources import Configuration
from pydapr.sidecar.components import ComponentStore


def http_pipeline(configuration: Configuration | None, components: ComponentStore) -> list[Middleware]:
    """The ``httpPipeline`` handlers, in order, for the public HTTP API."""
    return []


def app_http_pipeline(configuration: Configuration | None, components: ComponentStore) -> list[Middleware]:
    """The ``appHttpPipeline`` handlers, in order, for HTTP calls to the app."""
    return []
