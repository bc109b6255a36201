"""The interceptors of the public gRPC API, built once at startup."""

from __future__ import annotations

import grpc

from pydapr.api.grpc.token import TokenInterceptor
from pydapr.resources import Configuration
from pydapr.sidecar.options import SidecarOptions


def grpc_interceptors(
    options: SidecarOptions, configuration: Configuration | None, api_token: str | None
) -> list[grpc.aio.ServerInterceptor]:
    return [TokenInterceptor(api_token)] if api_token else []
