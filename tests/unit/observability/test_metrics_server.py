"""The metrics port: GET /metrics in the text format, 404 elsewhere, and the collector leaves the
registry when the sidecar stops (so one process can host sidecars one after another)."""

from __future__ import annotations

import asyncio
import urllib.request

from pydapr.http.messages import Request
from pydapr.observability.metrics.lifecycle import start_metrics
from pydapr.observability.metrics.registry import REGISTRY
from pydapr.observability.metrics.server import metrics_handler


def _started(app_id: str):  # type: ignore[no-untyped-def]
    return start_metrics(
        True,
        None,
        app_id=app_id,
        namespace="ns",
        app_uses_grpc=False,
        health_check_path="/healthz",
        component_type=lambda _: "",
        is_remote_app=lambda _: True,
    )


def test_only_get_metrics_is_served() -> None:
    serve = metrics_handler(REGISTRY)

    async def ask(method: str, path: str) -> int:
        return (await serve(Request(method, path, "", None, b""))).status

    async def main() -> list[int]:
        return [await ask("GET", "/metrics"), await ask("GET", "/"), await ask("POST", "/metrics")]

    assert asyncio.run(main()) == [200, 404, 405]


def test_a_scrape_over_the_port_then_stop_unregisters() -> None:
    metrics = _started("served")
    assert metrics.families is not None
    metrics.families.component_loaded.inc(("served",))

    async def main() -> str:
        await metrics.serve("127.0.0.1", 0)
        try:
            url = f"http://127.0.0.1:{metrics.port}/metrics"
            return await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
        finally:
            await metrics.stop(1.0)

    text = asyncio.run(main())
    assert 'dapr_runtime_component_loaded{app_id="served"} 1.0\n' in text
    assert "# TYPE dapr_runtime_component_loaded counter\n" in text
    assert REGISTRY.get_sample_value("dapr_runtime_component_loaded", {"app_id": "served"}) is None
