"""Shared pieces of the app channel tests: options for a channel to a port, a recording pipeline."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pydapr.pipeline import Call, Direction, Interceptor, Operation, Pipeline
from pydapr.sidecar.options import SidecarOptions


class Recorder:
    """An interceptor source that records every OUTBOUND_APP call and lets it through."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    def interceptor(self, direction: Direction, target: str) -> Interceptor | None:
        if direction is not Direction.OUTBOUND_APP:
            return None

        async def record(call: Call, proceed: Operation[Any]) -> Any:
            self.calls.append(call)
            return await proceed()

        return record


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def pipeline(recorder: Recorder) -> Pipeline:
    return Pipeline([recorder])


@pytest.fixture
def no_token(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("APP_API_TOKEN", raising=False)
    yield


def options(port: int, protocol: str = "http", concurrency: int = -1) -> SidecarOptions:
    return SidecarOptions(app_id="me", app_port=port, app_protocol=protocol, app_max_concurrency=concurrency)


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")
