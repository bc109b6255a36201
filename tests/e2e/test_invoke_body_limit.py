"""A call over the callee sidecar's body limit, from a caller whose own limit lets it through.

The callee refuses that call alone, as it does over HTTP/1.1 (413, ERR_MALFORMED_REQUEST); the
calls sharing the multiplexed peer connection with it go on and are answered. (Before, a body
within 64 KiB over the limit reached the app, and a larger one dropped the connection with every
call on it.)
"""

from __future__ import annotations

import concurrent.futures
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import APPS
from tests.e2e.harness import Processes, free_port, wait_port
from tests.e2e.test_invoke import as_json, call

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


def test_a_call_over_the_callees_body_limit_is_refused_and_the_calls_in_flight_go_on(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    procs = Processes(home=home, workdir=tmp_path)
    try:
        app_port = free_port()
        app = procs.app("small", APPS / "slow_app.py", env={"INSTANCE": "small", "APP_PORT": str(app_port)})
        wait_port(app_port, proc=app)
        callee = procs.sidecar("small", app_port=app_port, args=["--max-body-size", "1Ki"])
        procs.wait_healthy(callee)
        caller = procs.sidecar("caller", args=["--max-body-size", "1Mi"])
        url = f"{caller.url}/v1.0/invoke/small/method"
        assert call(f"{url}/who")[::2] == (200, b"small")  # the peer connection is up

        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            in_flight = [pool.submit(call, f"{url}/slow", "POST", b"{}") for _ in range(3)]
            time.sleep(0.3)  # the app holds each for a second
            # Within the limit of a frame between sidecars (the body's and the head's together),
            # then past it: either way over the callee's body limit.
            for size in (64 * 1024, 512 * 1024):
                status, _, body = call(f"{url}/slow", "POST", b"x" * size)
                assert status == 413, size
                error = as_json(body)
                assert error["errorCode"] == "ERR_MALFORMED_REQUEST"
                assert "exceeds the limit of 1024 bytes" in error["message"]
            answers = [f.result(timeout=30) for f in in_flight]

        assert [(s, b) for s, _, b in answers] == [(200, b"small")] * 3
        assert call(f"{url}/who")[::2] == (200, b"small")
        assert caller.alive and callee.alive
    finally:
        procs.stop_all()
