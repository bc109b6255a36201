"""Observability: structured logs, metrics and tracing."""
