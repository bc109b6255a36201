"""A sidecar on the components ``pydapr init --slim`` writes serves its gRPC API without loading
grpcio (cygrpc is ~9 MiB of an idle sidecar's memory): the official SDK's gRPC client saves and
reads state, and gets Dapr's error for a store that does not exist, while the sidecar's process
never maps grpcio's shared object. A gRPC channel the sidecar opens itself (here: the gRPC proxy
to another app's sidecar) loads it then, and the proxied call works."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError

from tests.e2e.harness import Processes, free_port, wait_port

pytestmark = pytest.mark.e2e


def _maps_grpcio(pid: int) -> bool:
    return "cygrpc" in Path(f"/proc/{pid}/maps").read_text()


def _echo_server(port: int) -> subprocess.Popen[bytes]:
    """An app's own gRPC server (grpcio) answering /test.Echo/Say with its request reversed."""
    code = f"""
import asyncio, grpc
async def say(request, context):
    return request[::-1]
async def main():
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(
        "test.Echo", {{"Say": grpc.unary_unary_rpc_method_handler(say)}})])
    server.add_insecure_port("127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()
asyncio.run(main())
"""
    return subprocess.Popen([sys.executable, "-c", code], start_new_session=True)


def test_the_grpc_api_serves_without_grpcio_until_a_channel_is_opened(
    procs: Processes, dapr_settings: Any
) -> None:
    subprocess.run(
        [sys.executable, "-m", "pydapr", "init", "--slim"],
        env=procs.env(),
        check=True,
        capture_output=True,
        timeout=60,
    )
    app_port = free_port()
    app = _echo_server(app_port)
    try:
        wait_port(app_port)
        procs.sidecar("echo", app_port=app_port, app_protocol="grpc")
        sidecar = procs.sidecar("lean", resources=procs.home / "components")
        pid = sidecar.popen.pid
        dapr_settings(sidecar)
        assert not _maps_grpcio(pid), "an idle sidecar on the default components loaded grpcio"

        with DaprClient() as client:
            client.save_state("statestore", "lean-key", b"value")
            assert client.get_state("statestore", "lean-key").data == b"value"
            with pytest.raises(DaprGrpcError) as refused:
                client.get_state("no-such-store", "k")
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert refused.value.error_code() == "ERR_STATE_STORE_NOT_FOUND"
        assert not _maps_grpcio(pid), "serving the gRPC API loaded grpcio"

        with grpc.insecure_channel(f"127.0.0.1:{sidecar.grpc_port}") as channel:
            say = channel.unary_unary("/test.Echo/Say")
            assert say(b"hello", metadata=[("dapr-app-id", "echo")], timeout=10) == b"olleh"
        assert _maps_grpcio(pid)
    finally:
        app.kill()
        app.wait(timeout=10)
