"""The sidecar's channel to its own app (see ``base.AppChannel``); ``create_app_channel`` picks the
implementation for ``--app-protocol``."""

from __future__ import annotations

from collections.abc import Sequence

from pydapr.http.client import HttpClient
from pydapr.middleware.contract import Middleware
from pydapr.pipeline import Pipeline
from pydapr.sidecar.options import SidecarOptions

from .base import APP_API_TOKEN_HEADER, AppChannel, BindingReply, JobTrigger

__all__ = ["APP_API_TOKEN_HEADER", "AppChannel", "BindingReply", "JobTrigger", "create_app_channel"]


def create_app_channel(
    options: SidecarOptions,
    http_client: HttpClient,
    pipeline: Pipeline,
    app_id: str,
    http_middlewares: Sequence[Middleware] = (),
) -> AppChannel:
    """The channel for the app's protocol; ``http_middlewares`` is ``appHttpPipeline`` (HTTP apps)."""
    if options.app_uses_grpc:
        from .grpc import GrpcAppChannel

        return GrpcAppChannel(options, pipeline, app_id)
    from .http import HttpAppChannel

    return HttpAppChannel(options, http_client, pipeline, app_id, http_middlewares)
