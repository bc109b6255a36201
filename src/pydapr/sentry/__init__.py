"""Sentry: the certificate authority that signs workload certificates (X.509 SVIDs) for sidecars and
the control plane, served as Dapr's ``dapr.proto.sentry.v1.CA``."""
