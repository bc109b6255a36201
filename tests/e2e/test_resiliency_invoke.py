"""Resiliency policies on service invocation (``targets.apps``), as a user sees them through a sidecar."""

from __future__ import annotations

import json
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import APPS
from tests.e2e.harness import Processes, Sidecar, free_port, wait_port
from tests.e2e.test_invoke import call

pytestmark = pytest.mark.e2e

RESILIENCY = textwrap.dedent(
    """
    apiVersion: dapr.io/v1alpha1
    kind: Resiliency
    metadata:
      name: invoke-policies
    spec:
      policies:
        timeouts:
          fast: 300ms
        retries:
          three:
            policy: constant
            duration: 20ms
            maxRetries: 3
          onlyTeapots:
            policy: constant
            duration: 20ms
            maxRetries: 3
            matching:
              httpStatusCodes: "418"
        circuitBreakers:
          tripsFast:
            maxRequests: 1
            timeout: 1s
            trip: consecutiveFailures >= 2
      targets:
        apps:
          orders:
            timeout: fast
            retry: three
          picky:
            retry: onlyTeapots
          fragile:
            circuitBreaker: tripsFast
    """
)


def _start(procs: Processes, app_id: str, resources: Path) -> Sidecar:
    app_port = free_port()
    sidecar = procs.sidecar(app_id, app_port=app_port, resources=resources)
    app = procs.app(app_id, APPS / "http_app.py", env={"APP_ID": app_id, "APP_PORT": str(app_port)})
    wait_port(app_port, proc=app)
    procs.wait_healthy(sidecar)
    return sidecar


@pytest.fixture(scope="module")
def caller(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    workdir = tmp_path_factory.mktemp("resiliency")
    home = workdir / "home"
    home.mkdir()
    resources = workdir / "resources"
    resources.mkdir()
    (resources / "resiliency.yaml").write_text(RESILIENCY)
    procs = Processes(home=home, workdir=workdir)
    try:
        orders = _start(procs, "orders", resources)
        for app_id in ("picky", "fragile", "plain"):
            _start(procs, app_id, resources)
        yield orders
    finally:
        procs.stop_all()


def _key() -> str:
    return uuid.uuid4().hex[:8]


def test_retries_until_the_app_succeeds(caller: Sidecar) -> None:
    status, _, body = call(f"{caller.url}/v1.0/invoke/orders/method/flaky/{_key()}?fail=2", "POST", b"{}")
    assert status == 200, body
    assert json.loads(body) == {"attempts": 3}


def test_when_retries_run_out_the_apps_last_answer_stands(caller: Sidecar) -> None:
    status, _, body = call(f"{caller.url}/v1.0/invoke/orders/method/flaky/{_key()}?fail=10", "POST", b"{}")
    assert (status, body) == (503, b"attempt 4 failed")  # the first call and three retries


def test_retry_after_is_waited_for(caller: Sidecar) -> None:
    started = time.monotonic()
    status, _, body = call(
        f"{caller.url}/v1.0/invoke/orders/method/flaky/{_key()}?fail=1&retry_after=1", "POST", b"{}"
    )
    assert status == 200 and json.loads(body) == {"attempts": 2}
    assert time.monotonic() - started >= 0.95  # the policy's 20 ms would not wait that long


def test_timeout_bounds_each_attempt(caller: Sidecar) -> None:
    started = time.monotonic()
    status, _, body = call(f"{caller.url}/v1.0/invoke/orders/method/slow?seconds=2")
    elapsed = time.monotonic() - started
    assert status == 500
    assert json.loads(body)["errorCode"] == "ERR_DIRECT_INVOKE"
    assert "timed out" in json.loads(body)["message"]
    assert elapsed < 1.9  # four attempts of 300 ms plus the waits, not one of 2 s
    # The connection the timeout cut is not reused: the next call is answered normally.
    assert call(f"{caller.url}/v1.0/invoke/orders/method/slow?seconds=0")[0] == 200


def test_only_matching_codes_are_retried(caller: Sidecar) -> None:
    key = _key()
    status, _, body = call(f"{caller.url}/v1.0/invoke/picky/method/flaky/{key}?fail=1&status=500", "POST")
    assert (status, body) == (500, b"attempt 1 failed")  # 500 is not in matching: no retry
    status, _, body = call(f"{caller.url}/v1.0/invoke/picky/method/flaky/{_key()}?fail=2&status=418", "POST")
    assert status == 200 and json.loads(body) == {"attempts": 3}


def test_circuit_breaker_opens_then_half_opens_and_closes(caller: Sidecar) -> None:
    key = _key()
    for attempt in (1, 2):
        status, _, body = call(f"{caller.url}/v1.0/invoke/fragile/method/flaky/{key}?fail=3", "POST")
        assert (status, body) == (503, f"attempt {attempt} failed".encode())
    status, _, body = call(f"{caller.url}/v1.0/invoke/fragile/method/flaky/{key}?fail=3", "POST")
    assert status == 500 and "circuit breaker is open" in json.loads(body)["message"]
    time.sleep(1.1)  # the breaker's timeout: one trial call is let through
    status, _, body = call(f"{caller.url}/v1.0/invoke/fragile/method/flaky/{key}?fail=3", "POST")
    assert (status, body) == (503, b"attempt 3 failed")  # the trial failed: open again
    status, _, _ = call(f"{caller.url}/v1.0/invoke/fragile/method/flaky/{key}?fail=3", "POST")
    assert status == 500
    time.sleep(1.1)
    status, _, body = call(f"{caller.url}/v1.0/invoke/fragile/method/flaky/{key}?fail=3", "POST")
    assert status == 200 and json.loads(body) == {"attempts": 4}  # closed again
    assert call(f"{caller.url}/v1.0/invoke/fragile/method/flaky/{key}?fail=3", "POST")[0] == 200


def test_an_app_without_a_policy_is_called_once(caller: Sidecar) -> None:
    status, _, body = call(f"{caller.url}/v1.0/invoke/plain/method/flaky/{_key()}?fail=1", "POST", b"{}")
    assert (status, body) == (503, b"attempt 1 failed")
