"""Service invocation of a peer whose sidecar is not running: Dapr's ``DaprBuiltInServiceRetries``.

The registry has an entry for ``ghost`` (a live pid, so it is not pruned) whose internal port nobody
listens on: every connection is refused, nothing is sent, so the caller's sidecar retries the hop as
daprd does, three times one second apart (four attempts, about 3 s), then answers
``ERR_DIRECT_INVOKE``. A peer named in ``targets.apps`` gets no built-in retries: its own policy
(here only a timeout) decides, and the call fails at once.
"""

from __future__ import annotations

import json
import os
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Processes, Sidecar, free_port
from tests.e2e.test_invoke import call

pytestmark = pytest.mark.e2e

RESILIENCY = textwrap.dedent(
    """
    apiVersion: dapr.io/v1alpha1
    kind: Resiliency
    metadata:
      name: named-peer
    spec:
      policies:
        timeouts:
          patient: 5s
      targets:
        apps:
          named-ghost:
            timeout: patient
    """
)


def _register_dead_peer(home: Path, app_id: str) -> None:
    folder = home / "registry" / "default" / app_id
    folder.mkdir(parents=True)
    port = free_port()  # nobody listens there
    entry = {"host": "127.0.0.1", "internalPort": port, "grpcPort": 0, "httpPort": 0, "pid": os.getpid()}
    (folder / f"{os.getpid()}.json").write_text(json.dumps(entry))


@pytest.fixture(scope="module")
def caller(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    workdir = tmp_path_factory.mktemp("invoke-builtin-retries")
    home = workdir / "home"
    home.mkdir()
    resources = workdir / "resources"
    resources.mkdir()
    (resources / "resiliency.yaml").write_text(RESILIENCY)
    for app_id in ("ghost", "named-ghost"):
        _register_dead_peer(home, app_id)
    procs = Processes(home=home, workdir=workdir)
    try:
        yield procs.sidecar("caller", resources=resources)
    finally:
        procs.stop_all()


def test_a_peer_that_refuses_connections_is_retried_per_the_builtin_policy(caller: Sidecar) -> None:
    started = time.monotonic()
    status, _, body = call(f"{caller.url}/v1.0/invoke/ghost/method/anything", "POST", b"{}")
    elapsed = time.monotonic() - started
    error = json.loads(body)
    assert status == 500 and error["errorCode"] == "ERR_DIRECT_INVOKE", body
    assert "could not reach the app's sidecar" in error["message"]
    assert 2.8 <= elapsed < 8  # four attempts, 1 s apart (DaprBuiltInServiceRetries)
    assert "DaprBuiltInServiceRetries" in caller.log()  # the built-in policy logged its retry


def test_a_peer_with_a_named_target_gets_no_builtin_retries(caller: Sidecar) -> None:
    started = time.monotonic()
    status, _, body = call(f"{caller.url}/v1.0/invoke/named-ghost/method/anything", "POST", b"{}")
    elapsed = time.monotonic() - started
    assert status == 500 and json.loads(body)["errorCode"] == "ERR_DIRECT_INVOKE", body
    assert elapsed < 0.9  # one attempt
