"""Dapr jobs API: schedules, the sidecar side of the scheduler, and trigger delivery."""
