"""Input-binding delivery under Resiliency, end to end: RabbitMQ input bindings whose app route refuses
an event N times before taking it.

- ``retrying`` has an inbound policy with more retries than N: the sidecar retries the delivery
  itself, so the app sees N+1 attempts and the broker is never handed the event back.
- ``short`` has an inbound policy of one retry, fewer than N: the policy gives up after two attempts
  and the handler raises, so the RabbitMQ binding nacks the message with requeue; the broker
  redelivers it and the next round of attempts gets it through. The event is not lost: the app still
  takes it exactly once, after N+1 attempts in all, and the sidecar logs each requeue.
- ``plain`` has no policy: pydapr's ``UNTIL_DELIVERED`` default retries until the app takes it.
"""

from __future__ import annotations

import json
import textwrap
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import APPS
from tests.e2e.harness import Processes, Sidecar, free_port, wait_port

pytestmark = pytest.mark.e2e

RABBIT = "amqp://guest:guest@127.0.0.1:5672/"
FAILS = 3

COMPONENT = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: {name}
spec:
  type: bindings.rabbitmq
  version: v1
  metadata:
  - name: host
    value: {rabbit}
  - name: queueName
    value: {queue}
  - name: deleteWhenUnused
    value: "true"
  - name: route
    value: /binding-flaky
---
"""

RESILIENCY = textwrap.dedent(
    """
    apiVersion: dapr.io/v1alpha1
    kind: Resiliency
    metadata:
      name: binding-policies
    spec:
      policies:
        retries:
          enough:
            policy: constant
            duration: 50ms
            maxRetries: 5
          once:
            policy: constant
            duration: 50ms
            maxRetries: 1
      targets:
        components:
          retrying:
            inbound:
              retry: enough
          short:
            inbound:
              retry: once
    """
)


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sidecar, int]]:
    workdir = tmp_path_factory.mktemp("bindings-resiliency")
    home = workdir / "home"
    home.mkdir()
    resources = workdir / "resources"
    resources.mkdir()
    run = uuid.uuid4().hex[:8]
    (resources / "components.yaml").write_text(
        "".join(
            COMPONENT.format(name=name, rabbit=RABBIT, queue=f"pydapr-e2e-{name}-{run}")
            for name in ("retrying", "short", "plain")
        )
    )
    (resources / "resiliency.yaml").write_text(RESILIENCY)
    procs = Processes(home=home, workdir=workdir)
    try:
        app_port = free_port()
        sc = procs.sidecar("binder", app_port=app_port, resources=resources)
        app = procs.app("binder", APPS / "http_app.py", env={"APP_ID": "binder", "APP_PORT": str(app_port)})
        wait_port(app_port, proc=app)
        procs.wait_healthy(sc)
        _wait_reading(sc, 3)
        yield sc, app_port
    finally:
        procs.stop_all()


def _wait_reading(sidecar: Sidecar, count: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sidecar.log().count("delivering to the app at /binding-flaky") >= count:
            return
        time.sleep(0.1)
    raise TimeoutError(sidecar.log())


def _send(sidecar: Sidecar, binding: str, event: dict[str, Any]) -> None:
    body = json.dumps({"operation": "create", "data": event}).encode()
    req = urllib.request.Request(
        f"{sidecar.url}/v1.0/bindings/{binding}", body, {"content-type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status in (200, 204)


def _seen(app_port: int, key: str) -> dict[str, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{app_port}/binding-flaky/{key}", timeout=5) as resp:
        return dict(json.loads(resp.read()))


def _wait_delivered(app_port: int, key: str, timeout: float = 20.0) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    seen = _seen(app_port, key)
    while time.monotonic() < deadline and not seen["delivered"]:
        time.sleep(0.1)
        seen = _seen(app_port, key)
    time.sleep(0.5)  # nothing more arrives once the event was taken
    return _seen(app_port, key)


def _requeues(sidecar: Sidecar, binding: str) -> int:
    return sidecar.log().count(f"rabbitmq {binding}: event not delivered")


def test_an_inbound_policy_with_enough_retries_delivers_after_n_plus_one_attempts(
    sidecar: tuple[Sidecar, int],
) -> None:
    sc, app_port = sidecar
    key = uuid.uuid4().hex[:8]
    _send(sc, "retrying", {"key": key, "fail": FAILS})
    assert _wait_delivered(app_port, key) == {"attempts": FAILS + 1, "delivered": 1}
    assert _requeues(sc, "retrying") == 0  # the sidecar's retries got it through: never handed back


def test_an_exhausted_policy_hands_the_event_back_and_the_broker_redelivers_it(
    sidecar: tuple[Sidecar, int],
) -> None:
    sc, app_port = sidecar
    key = uuid.uuid4().hex[:8]
    _send(sc, "short", {"key": key, "fail": FAILS})
    # Two attempts per delivery (the first and one retry): refused twice, requeued; then refused
    # once more and taken on the redelivery's retry. Not lost, taken once.
    assert _wait_delivered(app_port, key) == {"attempts": FAILS + 1, "delivered": 1}
    assert _requeues(sc, "short") == 1


def test_without_a_policy_the_delivery_is_retried_until_taken(sidecar: tuple[Sidecar, int]) -> None:
    sc, app_port = sidecar
    key = uuid.uuid4().hex[:8]
    _send(sc, "plain", {"key": key, "fail": FAILS})
    assert _wait_delivered(app_port, key) == {"attempts": FAILS + 1, "delivered": 1}
    assert _requeues(sc, "plain") == 0


def test_resources_are_files(tmp_path: Path) -> None:
    # The module's YAML parses as the loader reads it (a typo would make every test above time out).
    from pydapr.resources import load_resources

    (tmp_path / "r.yaml").write_text(RESILIENCY)
    loaded = load_resources([tmp_path], app_id="binder", namespace="default")
    assert [r.name for r in loaded.resiliencies] == ["binding-policies"]
