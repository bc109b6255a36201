"""A callee's sidecar that stops with calls in flight, among two instances of one app.

The calls it has started are answered (its app finishes them within the graceful-shutdown time);
every call after it stopped goes to the other instance, none is lost and none fails. Between
sidecars this is the multiplexed peer connection's GOAWAY: the stopping sidecar starts no call
it receives after it, and those are sent again elsewhere (docs/invocation.md).
"""

from __future__ import annotations

import concurrent.futures
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.e2e.conftest import APPS
from tests.e2e.harness import Proc, Processes, Sidecar, free_port, wait_port
from tests.e2e.test_invoke import call

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


@dataclass
class Pair:
    caller: Sidecar
    first: Sidecar
    second: Sidecar
    procs: Processes


def _instance(procs: Processes, name: str) -> tuple[Sidecar, Proc]:
    app_port = free_port()
    app = procs.app(name, APPS / "slow_app.py", env={"INSTANCE": name, "APP_PORT": str(app_port)})
    wait_port(app_port, proc=app)
    sidecar = procs.sidecar("slow", app_port=app_port)
    procs.wait_healthy(sidecar)
    return sidecar, app


@pytest.fixture
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    workdir = tmp_path_factory.mktemp("invoke-peer-stop")
    home = workdir / "home"
    home.mkdir()
    procs = Processes(home=home, workdir=workdir)
    try:
        first, _ = _instance(procs, "first")
        second, _ = _instance(procs, "second")
        caller = procs.sidecar("caller")
        yield Pair(caller, first, second, procs)
    finally:
        procs.stop_all()


def test_calls_in_flight_are_answered_and_later_calls_go_to_the_other_instance(pair: Pair) -> None:
    url = f"{pair.caller.url}/v1.0/invoke/slow/method"
    seen = {call(f"{url}/who")[2] for _ in range(6)}
    assert seen == {b"first", b"second"}, seen  # round robin over both instances

    # Calls that keep coming while the first instance's sidecar stops, one after another.
    during: list[tuple[int, bytes]] = []
    stopped = threading.Event()

    def keep_calling() -> None:
        while not stopped.is_set():
            status, _, body = call(f"{url}/who")
            during.append((status, body))

    with concurrent.futures.ThreadPoolExecutor(9) as pool:
        in_flight = [pool.submit(call, f"{url}/slow", "POST", b"{}") for _ in range(8)]
        # Each instance's app is now holding its calls for a second.
        concurrent.futures.wait(in_flight, timeout=0.4)
        steady = pool.submit(keep_calling)
        pair.first.signal(signal.SIGTERM)
        answers = [f.result(timeout=30) for f in in_flight]
        pair.first.popen.wait(20)
        stopped.set()
        steady.result(timeout=30)
    assert [status for status, _, _ in answers] == [200] * 8, answers
    assert {body for _, _, body in answers} == {b"first", b"second"}
    assert during and all(status == 200 for status, _ in during), during
    # A call the stopping sidecar did not start went to the other instance at once, not after the
    # built-in retry's wait (which logs its retry).
    assert "DaprBuiltInServiceRetries" not in pair.caller.log()

    after = [call(f"{url}/who") for _ in range(10)]
    assert [(status, body) for status, _, body in after] == [(200, b"second")] * 10, after
