"""gRPC trigger delivery picks OnJobEvent or OnJobEventAlpha1 by what the installed SDK's protos define."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from google.protobuf.any_pb2 import Any as AnyPb

from pydapr.jobs.delivery import TriggerDelivery


class _Stub:
    def __init__(self, calls: list[str], rpcs: tuple[str, ...]) -> None:
        for rpc in rpcs:
            setattr(self, rpc, self._recorder(calls, rpc))

    @staticmethod
    def _recorder(calls: list[str], rpc: str) -> Any:
        async def call(request: Any, metadata: Any = None, timeout: float | None = None) -> None:
            calls.append(f"{rpc}:{request.name}")

        return call


class _Channel:
    protocol = "grpc"

    def __init__(self, stable_rpc: bool) -> None:
        self.calls: list[str] = []
        self._callback = _Stub(self.calls, ("OnJobEvent",) if stable_rpc else ())
        self._alpha = _Stub(self.calls, ("OnJobEventAlpha1",))

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        yield

    def grpc_metadata(self) -> tuple[tuple[str, str], ...]:
        return ()

    def callback_stub(self) -> _Stub:
        return self._callback

    def callback_alpha_stub(self) -> _Stub:
        return self._alpha


async def test_stable_rpc_when_the_sdk_defines_it() -> None:
    channel = _Channel(stable_rpc=True)
    assert await TriggerDelivery(channel)("report", AnyPb()) is True  # type: ignore[arg-type]
    assert channel.calls == ["OnJobEvent:report"]


async def test_alpha1_with_sdk_1_16_protos_that_lack_on_job_event() -> None:
    channel = _Channel(stable_rpc=False)
    assert await TriggerDelivery(channel)("report", AnyPb()) is True  # type: ignore[arg-type]
    assert channel.calls == ["OnJobEventAlpha1:report"]
