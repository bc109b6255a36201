"""A started sidecar hands its blocks metric recorders only when it serves metrics: the
Configuration's ``spec.metric.enabled: false`` (or ``--enable-metrics=false``) leaves every block
without one, so nothing is recorded and no block pays for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pydapr.sidecar.options import SidecarOptions
from pydapr.sidecar.runtime import Runtime

CONFIG = """\
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: metrics
spec:
  metric:
    enabled: {enabled}
"""


async def started(tmp_path: Path, *, enabled: bool, flag: bool = True) -> Runtime:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(enabled=str(enabled).lower()))
    options = SidecarOptions(
        app_id="metrics-switch",
        configs=(config,),
        enable_metrics=flag,
        metrics_port=0,
        dapr_http_port=0,
        dapr_grpc_port=0,
        scheduler_host_address="127.0.0.1:1",  # never reached: no app to deliver triggers to
    )
    runtime = Runtime(options)
    await runtime.start()
    return runtime


def block(runtime: Runtime, name: str) -> Any:
    return next(b for b in runtime.blocks if b.name == name)


@pytest.fixture
async def stop() -> AsyncIterator[list[Runtime]]:
    runtimes: list[Runtime] = []
    yield runtimes
    for runtime in runtimes:
        await runtime.stop()


@pytest.mark.parametrize(("enabled", "flag"), [(False, True), (True, False)])
async def test_metrics_off_leaves_every_block_without_a_recorder(
    tmp_path: Path, stop: list[Runtime], enabled: bool, flag: bool
) -> None:
    runtime = await started(tmp_path, enabled=enabled, flag=flag)
    stop.append(runtime)
    assert not runtime.metrics.enabled
    actors = block(runtime, "actors")
    assert actors.metrics is None and actors.host.metrics is None and actors.api.metrics is None
    assert block(runtime, "workflows").engine.metrics is None


async def test_metrics_on_gives_the_blocks_recorders_for_the_app_id(
    tmp_path: Path, stop: list[Runtime]
) -> None:
    runtime = await started(tmp_path, enabled=True)
    stop.append(runtime)
    actors = block(runtime, "actors")
    assert actors.host.metrics is not None and actors.host.metrics.app_id == "metrics-switch"
    engine = block(runtime, "workflows").engine
    assert engine.metrics is not None and engine.metrics.namespace == runtime.namespace
