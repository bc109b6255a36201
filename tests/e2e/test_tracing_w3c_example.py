"""The Python SDK's own tracing example (examples/w3c-tracing) against pydapr, run as its README
runs it (``dapr run --app-id invoke-receiver --app-protocol grpc --app-port 3001 -- python3
invoke-receiver.py``, then the caller), with the README's expected output and Zipkin query.

The example's two files are copied unchanged in tests/e2e/w3c_tracing_example (its README says
from where); only their fixed ports are replaced when run: the receiver's 3001 and Zipkin's 9411
become free ones (tests run in parallel), the Zipkin being the tests' collector.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.collectors import ZipkinCollector, running
from tests.e2e.harness import Processes, free_port, wait_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

EXAMPLE = Path(__file__).resolve().parent / "w3c_tracing_example"
FILES = ("invoke-receiver.py", "invoke-caller.py")
# ~/.dapr/config.yaml as `dapr init` writes it, the Zipkin address made the collector's.
DAPR_INIT_CONFIG = """\
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: daprConfig
spec:
  tracing:
    samplingRate: "1"
    zipkin:
      endpointAddress: {endpoint}
"""


def example_source(name: str) -> str:
    return (EXAMPLE / name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("w3c-tracing")


@pytest.fixture(scope="module")
def zipkin() -> Iterator[ZipkinCollector]:
    with running(ZipkinCollector()) as collector:
        yield collector


def test_w3c_tracing_example(workdir: Path, zipkin: ZipkinCollector) -> None:
    app_port = free_port()
    for name in FILES:
        source = example_source(name)
        assert "3001" in source or name != "invoke-receiver.py"
        source = source.replace("app.run(3001)", f"app.run({app_port})")
        source = source.replace("http://localhost:9411/api/v2/spans", zipkin.endpoint)
        (workdir / name).write_text(source)
    config = workdir / "config.yaml"
    config.write_text(DAPR_INIT_CONFIG.format(endpoint=zipkin.endpoint))
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    procs = Processes(home=home, workdir=workdir)
    fast = {"OTEL_BSP_SCHEDULE_DELAY": "100"}
    try:
        receiver_sidecar = procs.sidecar(
            "invoke-receiver", app_port=app_port, app_protocol="grpc", config=config, env=fast, wait=False
        )
        # `dapr run` gives the app its sidecar's ports.
        ports = {
            "DAPR_HTTP_PORT": str(receiver_sidecar.http_port),
            "DAPR_GRPC_PORT": str(receiver_sidecar.grpc_port),
        }
        receiver = procs.app("invoke-receiver", workdir / "invoke-receiver.py", env=ports)
        wait_port(app_port, proc=receiver)
        procs.wait_healthy(receiver_sidecar)
        caller_sidecar = procs.sidecar("invoke-caller", app_protocol="grpc", config=config, env=fast)
        ports = {
            "DAPR_HTTP_PORT": str(caller_sidecar.http_port),
            "DAPR_GRPC_PORT": str(caller_sidecar.grpc_port),
        }
        caller = procs.app("invoke-caller", workdir / "invoke-caller.py", env=ports)
        assert caller.popen.wait(60) == 0, caller.log()
        out = caller.log()
        # The README's expected lines, in any order (match_order: none), each as often as listed.
        for line, times in (
            ("application/json", 2),
            ("SAY", 2),
            ("text/plain", 2),
            ("SLEEP", 2),
            ("Trace ID matches after forwarding", 2),
        ):
            assert out.count(line) >= times, f"{line!r} x{times} not in:\n{out}"
        # The README's Zipkin query: the receiver's calllocal spans, twice each.
        wanted = {f"calllocal/invoke-receiver/{m}" for m in ("saytrace", "sleep", "forward")}
        deadline = time.monotonic() + 20
        while True:
            names = [s.name.lower() for s in zipkin.spans if s.service == "invoke-receiver"]
            if all(names.count(n) >= 2 for n in wanted if n != "calllocal/invoke-receiver/saytrace") and (
                names.count("calllocal/invoke-receiver/saytrace") >= 4  # 2 direct + 2 forwarded
            ):
                break
            assert time.monotonic() < deadline, f"receiver spans: {names}"
            time.sleep(0.1)
        # The app's own 'main' span (the README's last line) came too, in the same traces.
        main = [s for s in zipkin.spans if s.name == "main"]
        assert len(main) == 1
        received = {s.trace_id for s in zipkin.spans if s.name.lower() in wanted}
        assert received == {main[0].trace_id}
    finally:
        procs.stop_all()
        for proc in procs.procs:
            assert not proc.alive
