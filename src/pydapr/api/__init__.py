"""Transports: HTTP and gRPC adapters around the building blocks' transport-free APIs."""
