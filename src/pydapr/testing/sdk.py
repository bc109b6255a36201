"""Points the official Dapr SDK's settings, in the test process, at a test sidecar for a while.

The SDK reads where the sidecar is from ``dapr.conf.settings``: its clients probe
``DAPR_HTTP_PORT`` for health when created, and its HTTP method invocation reads it on every call.
A value assigned on ``settings`` wins over the ``DAPR_*`` environment variables in every SDK
release; on exit the previous values (or their absence) come back, so nested uses unwind cleanly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def pointed_at(http_port: int, grpc_port: int) -> Iterator[None]:
    from dapr.conf import settings

    values: dict[str, Any] = {
        "DAPR_RUNTIME_HOST": "127.0.0.1",
        "DAPR_HTTP_PORT": http_port,
        "DAPR_GRPC_PORT": grpc_port,
        # An endpoint, if set, would win over host and port.
        "DAPR_HTTP_ENDPOINT": None,
        "DAPR_GRPC_ENDPOINT": None,
    }
    own = vars(settings)
    saved = {name: own[name] for name in values if name in own}
    for name, value in values.items():
        setattr(settings, name, value)
    try:
        yield
    finally:
        for name in values:
            if name in saved:
                setattr(settings, name, saved[name])
            else:
                with contextlib.suppress(AttributeError):
                    delattr(settings, name)
