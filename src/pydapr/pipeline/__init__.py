"""The sidecar's call pipeline: one description per call and one chain of interceptors per target,
for every direction a call takes (see docs/architecture.md)."""

from .call import Call, Direction
from .chain import Chain, Interceptor, InterceptorSource, Operation, Pipeline, direct

__all__ = [
    "Call",
    "Chain",
    "Direction",
    "Interceptor",
    "InterceptorSource",
    "Operation",
    "Pipeline",
    "direct",
]
