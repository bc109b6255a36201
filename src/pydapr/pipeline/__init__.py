"""The sidecar's call pipeline: one description per call and one chain of interceptors per target,
for every direction a call takes (see docs/architecture.md)."""

from .call import JOB_OPERATIONS, JOB_TRIGGER, Call, Direction
from .chain import Chain, Interceptor, InterceptorSource, Operation, Pipeline, direct

__all__ = [
    "JOB_OPERATIONS",
    "JOB_TRIGGER",
    "Call",
    "Chain",
    "Direction",
    "Interceptor",
    "InterceptorSource",
    "Operation",
    "Pipeline",
    "direct",
]
