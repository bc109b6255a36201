"""pydapr's own gRPC server over HTTP/2 on asyncio protocols, standing in for ``grpc.aio.server``
on the public API (opt-in: ``PYDAPR_GRPC_SERVER=native``); see docs/grpc-server.md."""

from pydapr.grpc_native.server import NativeGrpcServer, server

__all__ = ["NativeGrpcServer", "server"]
