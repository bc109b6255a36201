"""Tracing of an actor call across two sidecars: a caller's traceparent is continued on the
calling sidecar, passed to the sidecar hosting the actor and on to the actor app (an app written
with the official SDK), and every span lands in one trace at a real Zipkin collector."""

from __future__ import annotations

import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.e2e.actor_mesh import read_jsonl, redis_actor_store, start_host, start_placement, wait_placement
from tests.e2e.collectors import Span, ZipkinCollector, running
from tests.e2e.harness import Processes

pytestmark = pytest.mark.e2e

APP = Path(__file__).parent / "apps" / "actor_http_app.py"


@pytest.fixture
def app_id() -> Iterator[str]:
    name = f"actors-trace-{uuid.uuid4().hex[:8]}"
    yield name
    client = redis.Redis(host="127.0.0.1", port=6379)
    keys = list(client.scan_iter(f"{name}||*"))
    if keys:
        client.delete(*keys)


@pytest.mark.timeout(120)
def test_an_actor_call_is_one_trace_across_both_sidecars(procs: Processes, app_id: str) -> None:
    with running(ZipkinCollector()) as zipkin:
        config = procs.workdir / "tracing.yaml"
        config.write_text(
            "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: tracing\nspec:\n"
            '  tracing:\n    samplingRate: "1"\n    zipkin:\n'
            f"      endpointAddress: http://127.0.0.1:{zipkin.port}/api/v2/spans\n"
        )
        _, placement = start_placement(procs, "p0", f"sqlite://{procs.workdir}/placement.db")
        resources = procs.workdir / "resources"
        redis_actor_store(resources)
        fast = {"OTEL_BSP_SCHEDULE_DELAY": "100"}
        start_host(
            procs,
            name="host",
            app_id=app_id,
            script=APP,
            placement=[placement],
            resources=resources,
            actor_type="CounterActor",
            sidecar_args=["--config", str(config)],
            env={"TRACE_LOG": str(procs.workdir / "traces.jsonl")},
        )
        caller = procs.sidecar(
            f"{app_id}-caller",
            resources=resources,
            config=config,
            args=["--placement-host-address", placement],
            env=fast,
        )
        wait_placement(caller)
        trace_id = uuid.uuid4().hex
        given = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"
        req = urllib.request.Request(
            f"{caller.url}/v1.0/actors/CounterActor/t1/method/Add",
            data=b"3",
            method="POST",
            headers={"traceparent": given, "content-type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=20) as resp:
            assert resp.status == 200 and resp.read() == b"3"

        def both_sides(spans: list[Span]) -> bool:
            services = {s.service for s in spans if s.trace_id == trace_id}
            return {app_id, caller.app_id} <= services

        spans = [s for s in zipkin.wait_for(both_sides) if s.trace_id == trace_id]
        time.sleep(0.3)  # spans of one trace may come in several batches
        spans = [s for s in zipkin.spans if s.trace_id == trace_id]
        by_id = {s.span_id: s for s in spans}
        called = [s for s in spans if s.service == caller.app_id and s.name == "CallActor/CounterActor/Add"]
        assert len(called) == 1, [(s.service, s.name) for s in spans]
        # The caller's API span continues the given context; the actor call is its child ...
        api = by_id[called[0].parent_id]
        assert api.service == caller.app_id and api.parent_id == given.split("-")[2]
        # ... the hosting sidecar's span (SERVER, as daprd's internal server) is the actor call's
        # child ...
        hosted = [s for s in spans if s.service == app_id]
        assert [(s.name, s.kind, s.parent_id) for s in hosted] == [
            ("CallActor/CounterActor/Add", "SERVER", called[0].span_id)
        ]
        # ... and the actor app's request is the hosting sidecar's span's child.
        seen = read_jsonl(procs.workdir / "traces.jsonl")
        assert [r["traceparent"] for r in seen if r["path"].endswith("/t1/method/Add")] == [
            f"00-{trace_id}-{hosted[0].span_id}-01"
        ]
