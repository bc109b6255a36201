"""The Dapr gRPC API: the ``dapr.proto.runtime.v1.Dapr`` service, composed from per-block handlers."""
