"""Fixtures for end-to-end tests: a private pydapr home, and processes that are always stopped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Processes

APPS = Path(__file__).parent / "apps"


@pytest.fixture
def procs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Processes]:
    home = tmp_path / "pydapr-home"
    home.mkdir()
    monkeypatch.setenv("PYDAPR_HOME", str(home))
    processes = Processes(home=home, workdir=tmp_path)
    try:
        yield processes
    finally:
        processes.stop_all()


@pytest.fixture
def dapr_settings(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Points the official SDK, in this test process, at a sidecar: ``dapr_settings(sidecar)``."""
    from dapr.conf import settings

    def point_at(sidecar, invocation_protocol: str = "http") -> None:  # type: ignore[no-untyped-def]
        monkeypatch.setattr(settings, "DAPR_HTTP_PORT", sidecar.http_port)
        monkeypatch.setattr(settings, "DAPR_GRPC_PORT", sidecar.grpc_port)
        monkeypatch.setattr(settings, "DAPR_RUNTIME_HOST", "127.0.0.1")
        monkeypatch.setattr(settings, "DAPR_HTTP_ENDPOINT", None)
        monkeypatch.setattr(settings, "DAPR_GRPC_ENDPOINT", None)
        monkeypatch.setattr(settings, "DAPR_HEALTH_TIMEOUT", 20)
        monkeypatch.setattr(settings, "DAPR_API_METHOD_INVOCATION_PROTOCOL", invocation_protocol)

    return point_at
