"""The sidecar: startup order, ports, readiness, the app channel, shutdown."""
