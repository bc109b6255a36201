"""pydapr's own gRPC server over HTTP/2 on asyncio protocols, standing in for ``grpc.aio.server``
on the public API (the default; ``PYDAPR_GRPC_SERVER=grpcio`` picks grpcio's); see docs/grpc-server.md."""

from pydapr.grpc_native.server import NativeGrpcServer, server

__all__ = ["NativeGrpcServer", "server"]
