"""The bindings block without a sidecar: ``direction`` metadata, and the app's reply sending its data
to output bindings (sequential stops at the first failure, parallel sends to all)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pydapr.bindings.block import BindingsBlock, _reply_payload
from pydapr.bindings.contract import (
    BindingError,
    EventHandler,
    InputBinding,
    InvokeRequest,
    InvokeResponse,
    OutputBinding,
)
from pydapr.components.base import ComponentMetadata
from pydapr.pipeline import Pipeline
from pydapr.sidecar.components import LoadedComponent


class Recorder(OutputBinding, InputBinding):
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[InvokeRequest] = []
        self.fail = fail

    def operations(self) -> tuple[str, ...]:
        return ("create",)

    async def invoke(self, request: InvokeRequest) -> InvokeResponse:
        self.calls.append(request)
        if self.fail:
            raise BindingError("down")
        return InvokeResponse()

    async def read(self, handler: EventHandler) -> None:
        return None


def _block(tmp_path: Path, components: dict[str, tuple[Recorder, dict[str, str]]]) -> BindingsBlock:
    loaded = {}
    for name, (instance, props) in components.items():
        spec: Any = SimpleNamespace(name=name, family="bindings", type="bindings.test", version="v1")
        meta = ComponentMetadata(name, "bindings.test", "v1", props, base_dir=tmp_path)
        loaded[name] = LoadedComponent(spec, meta, instance)
    runtime: Any = SimpleNamespace(
        components=SimpleNamespace(by_family=lambda family: loaded), app_channel=None, pipeline=Pipeline()
    )
    return BindingsBlock(runtime)


def test_direction_metadata_limits_use(tmp_path: Path) -> None:
    block = _block(
        tmp_path,
        {
            "both": (Recorder(), {}),
            "in": (Recorder(), {"direction": "input"}),
            "out": (Recorder(), {"direction": " Output "}),
            "explicit": (Recorder(), {"direction": "input, output"}),
        },
    )
    assert sorted(block.outputs) == ["both", "explicit", "out"]
    assert sorted(block.inputs) == ["both", "explicit", "in"]


@pytest.mark.parametrize(
    ("data", "sent"),
    [(b'{"a": [1, 2]}', b'{"a":[1,2]}'), (b'"text"', b'"text"'), (b"not json", b"null"), (b"", b"null")],
)
def test_reply_data_is_sent_as_json(data: bytes, sent: bytes) -> None:
    assert _reply_payload(data) == sent


async def test_sequential_reply_stops_at_first_failure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    a, broken, c = Recorder(), Recorder(fail=True), Recorder()
    block = _block(tmp_path, {"a": (a, {}), "broken": (broken, {}), "c": (c, {})})
    await block.send_to_outputs("tick", ["a", "broken", "c"], b'{"n":1}', parallel=False)
    assert [r.operation for r in a.calls] == ["create"] and a.calls[0].data == b'{"n":1}'
    assert len(broken.calls) == 1 and c.calls == []
    assert "error executing app response of input binding tick" in caplog.text


async def test_parallel_reply_sends_to_all(tmp_path: Path) -> None:
    a, broken, c = Recorder(), Recorder(fail=True), Recorder()
    block = _block(tmp_path, {"a": (a, {}), "broken": (broken, {}), "c": (c, {})})
    await block.send_to_outputs("tick", ["a", "broken", "missing", "c"], b"[1]", parallel=True)
    await block.stop()  # waits for the sends in flight
    await asyncio.sleep(0)
    assert len(a.calls) == len(broken.calls) == len(c.calls) == 1
    assert c.calls[0].data == b"[1]"
