"""A gRPC app written with the official SDK's extension (``dapr.ext.grpc.App``), plus a plain gRPC
service of its own that callers reach through the sidecar's gRPC proxy."""

from __future__ import annotations

import json
import os

import grpc
from dapr.ext.grpc import App, InvokeMethodRequest, InvokeMethodResponse

app = App()


@app.method(name="echo")
def echo(request: InvokeMethodRequest) -> InvokeMethodResponse:
    payload = {
        "app": os.environ.get("APP_ID", ""),
        "data": request.text(),
        "content_type": request.content_type,
        "metadata": {k: v[0] if v else "" for k, v in request.metadata.items()},
    }
    return InvokeMethodResponse(json.dumps(payload).encode(), "application/json")


@app.method(name="fail")
def fail(request: InvokeMethodRequest) -> InvokeMethodResponse:
    raise ValueError("the app failed on purpose")


def _say(request: bytes, context: grpc.ServicerContext) -> bytes:
    return b"hello " + request + b" from " + os.environ.get("APP_ID", "").encode()


def _count(request: bytes, context: grpc.ServicerContext):  # type: ignore[no-untyped-def]
    n = int(request.decode() or "0")
    for i in range(n):
        yield str(i).encode()


_greeter = grpc.method_handlers_generic_handler(
    "test.Greeter",
    {
        "Say": grpc.unary_unary_rpc_method_handler(_say),
        "Count": grpc.unary_stream_rpc_method_handler(_count),
    },
)
app.add_external_service(lambda _servicer, server: server.add_generic_rpc_handlers([_greeter]), None)

if __name__ == "__main__":
    app.run(int(os.environ["APP_PORT"]), listen_address="127.0.0.1")
