"""The live sidecar both fuzzers run against: a real ``pydapr sidecar`` (tests/e2e/harness.py) with
real components of every family, placement and the scheduler, and data seeded before the fuzz that
no rejected request may change.

Components (names carry the run id): a SQLite state store (its own file; also the actor state
store), in-memory pub/sub, a local-file secret store, a Redis configuration store (keys under the
run id, deleted at the end), a SQLite lock store, a localstorage binding (its own folder), a local
crypto key folder and the echo conversation component; and a workflow worker written with the SDK
(tests/e2e/workflow_apps/worker.py).
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.harness import Processes, Sidecar, free_port, wait_port
from tests.e2e.workflow_mesh import WORKER, wait_line

RUN = "fz" + uuid.uuid4().hex[:8]
TOKEN = "fuzz-token-" + RUN
MAX_REQUEST_MB = 1  # --dapr-http-max-request-size: a body or gRPC message over it is refused

STATE = f"{RUN}-state"
PUBSUB = f"{RUN}-pubsub"
SECRETS = f"{RUN}-secrets"
CONFIG = f"{RUN}-config"
LOCK = f"{RUN}-lock"
BINDING = f"{RUN}-binding"
CRYPTO = f"{RUN}-crypto"
CONVERSATION = f"{RUN}-echo"
COMPONENTS = {
    "state": STATE, "pubsub": PUBSUB, "secrets": SECRETS, "configuration": CONFIG, "lock": LOCK,
    "binding": BINDING, "crypto": CRYPTO, "conversation": CONVERSATION,
}  # fmt: skip

# Seeded data: these keys, the lock and the job are what the fuzzers aim at (their names are mixed
# into the generated values) and what is checked after every rejected request.
SEED_STATE = {"seed-a": {"n": 1, "s": "ä"}, "seed-b": "plain", "seed-c": [1, 2, 3]}
SEED_LOCK_RESOURCE = "seed-resource"
SEED_LOCK_OWNER = "seed-owner"
SEED_JOB = "seed-job"
SEED_CONFIG = {f"{RUN}-cfg-a": "1", f"{RUN}-cfg-b": "two"}

_RESOURCES = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {{name: {state}}}
spec:
  type: state.sqlite
  version: v1
  metadata:
  - {{name: connectionString, value: "{workdir}/state.db"}}
  - {{name: actorStateStore, value: "true"}}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {{name: {pubsub}}}
spec: {{type: pubsub.in-memory, version: v1}}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {{name: {secrets}}}
spec:
  type: secretstores.local.file
  version: v1
  metadata:
  - {{name: secretsFile, value: "{workdir}/secrets.json"}}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {{name: {configuration}}}
spec:
  type: configuration.redis
  version: v1
  metadata:
  - {{name: redisHost, value: "127.0.0.1:6379"}}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {{name: {lock}}}
spec:
  type: lock.sqlite
  version: v1
  metadata:
  - {{name: connectionString, value: "{workdir}/lock.db"}}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {{name: {binding}}}
spec:
  type: bindings.localstorage
  version: v1
  metadata:
  - {{name: rootPath, value: "{workdir}/binding"}}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {{name: {crypto}}}
spec:
  type: crypto.dapr.localstorage
  version: v1
  metadata:
  - {{name: path, value: "{workdir}/keys"}}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {{name: {conversation}}}
spec: {{type: conversation.echo, version: v1}}
"""


@dataclass
class Live:
    """The running sidecar and how to read back what was seeded."""

    sidecar: Sidecar
    workdir: Path
    headers: dict[str, str] = field(default_factory=lambda: {"dapr-api-token": TOKEN})
    log_seen: int = 0  # how much of the sidecar's log check_survived has read

    @property
    def url(self) -> str:
        return self.sidecar.url

    def request(self, method: str, path: str, body: Any = None, timeout: float = 10.0) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=self.headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return int(resp.status), resp.read()
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read()

    def healthy(self) -> bool:
        return self.sidecar.alive and self.request("GET", "/v1.0/healthz", timeout=5.0)[0] == 204

    def check_survived(self) -> None:
        """Alive, healthy, and no exception escaped into the sidecar's log (it runs at warn level,
        so the log holds only problems; a traceback there is an exception nothing handled)."""
        log = self.sidecar.log()
        new, self.log_seen = log[self.log_seen :], len(log)  # each traceback fails one operation
        assert self.sidecar.alive, f"the sidecar died:\n{log[-4000:]}"
        assert self.healthy(), f"the sidecar is unhealthy:\n{log[-4000:]}"
        assert "Traceback" not in new, f"an exception escaped in the sidecar:\n{new[-6000:]}"

    def seed(self) -> None:
        """Write the seeded state, lock and job (again): after a request that succeeded may have
        changed them, the next rejected one is checked against fresh values."""
        items = [{"key": k, "value": v} for k, v in SEED_STATE.items()]
        status, body = self.request("POST", f"/v1.0/state/{STATE}", items)
        assert status == 204, (status, body)
        self.request("POST", f"/v1.0-alpha1/unlock/{LOCK}",
                     {"resourceId": SEED_LOCK_RESOURCE, "lockOwner": SEED_LOCK_OWNER})  # fmt: skip
        status, body = self.request(
            "POST", f"/v1.0-alpha1/lock/{LOCK}",
            {"resourceId": SEED_LOCK_RESOURCE, "lockOwner": SEED_LOCK_OWNER, "expiryInSeconds": 3600},
        )  # fmt: skip
        assert (status, json.loads(body)) == (200, {"success": True}), (status, body)
        status, body = self.request(
            "POST", f"/v1.0-alpha1/jobs/{SEED_JOB}",
            {"schedule": "@every 1h", "data": {"seeded": True}, "overwrite": True},
        )  # fmt: skip
        assert status == 204, (status, body)

    def snapshot(self) -> dict[str, Any]:
        """What the seeded data reads as now, ETags included (a rewrite with the same value shows)."""
        status, body = self.request("POST", f"/v1.0/state/{STATE}/bulk", {"keys": list(SEED_STATE)})
        state = (status, json.loads(body) if status == 200 else body)
        # An unlock by someone else is refused without changing the lock: 2 = held by another owner.
        lock = self.request("POST", f"/v1.0-alpha1/unlock/{LOCK}",
                            {"resourceId": SEED_LOCK_RESOURCE, "lockOwner": "nobody-" + RUN})  # fmt: skip
        job = self.request("GET", f"/v1.0-alpha1/jobs/{SEED_JOB}")
        return {"state": state, "lock": lock, "job": job}


def _write_files(workdir: Path) -> Path:
    resources = workdir / "resources"
    resources.mkdir()
    (workdir / "binding").mkdir()
    keys = workdir / "keys"
    keys.mkdir()
    (keys / "aes256").write_bytes(base64.b64encode(os.urandom(32)))
    (workdir / "secrets.json").write_text(json.dumps({"seed-secret": "s3cr3t", "nested": {"a": "b"}}))
    (resources / "components.yaml").write_text(_RESOURCES.format(workdir=workdir, **COMPONENTS))
    return resources


def _start_control_plane(procs: Processes) -> tuple[str, str]:
    placement_port, scheduler_port = free_port(), free_port()
    placement = procs.spawn(
        "placement",
        [sys.executable, "-m", "pydapr", "placement", "--port", str(placement_port), "--id", RUN,
         "--store", f"sqlite:///{procs.workdir}/placement.db"],
    )  # fmt: skip
    scheduler = procs.spawn(
        "scheduler",
        [sys.executable, "-m", "pydapr", "scheduler", "--port", str(scheduler_port), "--storage",
         f"sqlite://{procs.workdir}/scheduler.db"],
    )  # fmt: skip
    wait_port(placement_port, proc=placement)
    wait_port(scheduler_port, proc=scheduler)
    return f"127.0.0.1:{placement_port}", f"127.0.0.1:{scheduler_port}"


def _redis_config(action: str) -> None:
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379)
    try:
        if action == "seed":
            for key, value in SEED_CONFIG.items():
                client.set(key, f"{value}||1")
        else:
            client.delete(*SEED_CONFIG)
    finally:
        client.close()


@contextmanager
def live_sidecar(workdir: Path) -> Iterator[Live]:
    home = workdir / "pydapr-home"
    home.mkdir()
    procs = Processes(home=home, workdir=workdir)
    try:
        resources = _write_files(workdir)
        _redis_config("seed")
        placement, scheduler = _start_control_plane(procs)
        sidecar = procs.sidecar(
            RUN,
            resources=resources,
            args=["--placement-host-address", placement, "--scheduler-host-address", scheduler,
                  "--dapr-http-max-request-size", str(MAX_REQUEST_MB), "--log-level", "warn"],
            env={"DAPR_API_TOKEN": TOKEN},
            wait=False,
        )  # fmt: skip
        procs.wait_healthy(sidecar, "/v1.0/healthz")
        live = Live(sidecar, workdir)
        # A workflow worker (the SDK's), so the workflow actors are hosted and workflow calls get
        # their answers at once instead of daprd's actor-not-found retries (5 s each).
        worker = procs.app(
            "wfworker",
            WORKER,
            env={"APP_ID": RUN, "DAPR_GRPC_PORT": str(sidecar.grpc_port),
                 "DAPR_HTTP_PORT": str(sidecar.http_port), "DAPR_API_TOKEN": TOKEN},
        )  # fmt: skip
        wait_line(worker, "worker ready", 30)
        _wait_scheduler(live)
        live.seed()
        yield live
    finally:
        procs.stop_all()
        _redis_config("clean")


def _wait_scheduler(live: Live, timeout: float = 20.0) -> None:
    """Until a job can be scheduled (the sidecar has connected to the scheduler)."""
    deadline = time.monotonic() + timeout
    status, body = 0, b""
    while time.monotonic() < deadline:
        status, body = live.request("POST", f"/v1.0-alpha1/jobs/{SEED_JOB}",
                                    {"schedule": "@every 1h", "overwrite": True})  # fmt: skip
        if status == 204:
            return
        time.sleep(0.2)
    raise TimeoutError(f"jobs not schedulable: {status} {body!r}\n{live.sidecar.log()[-3000:]}")


class SeedGuard:
    """Seeds are written again after a request that may have changed them, and read back after
    each refused one: a refused request must change nothing."""

    def __init__(self, live: Live) -> None:
        self.live = live
        self.expected = live.snapshot()
        self.dirty = False

    def before(self) -> None:
        if self.dirty:
            self.live.seed()
            self.expected = self.live.snapshot()
            self.dirty = False

    def accepted(self) -> None:
        """The request may have written: the next one starts from fresh seeds."""
        self.dirty = True

    def refused(self, what: str) -> None:
        now = self.live.snapshot()
        if now != self.expected:
            self.dirty = True  # the next case starts from fresh seeds, so one defect reports once
        assert now == self.expected, f"refused {what} changed the seeded data"
