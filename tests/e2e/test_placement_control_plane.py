"""`pydapr run` with no --placement-host-address points the sidecar at the local control plane's
placement service, which then hands actor tables to sidecars."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pydapr.actors.contract import ActorKey
from pydapr.controlplane import status, stop
from pydapr.placement.client import PlacementClient
from pydapr.security.identity import WorkloadIdentity
from pydapr.security.mtls import Mtls
from pydapr.security.spiffe import PLACEMENT_APP_ID, SpiffeId
from pydapr.sentry.client import sentry_signer
from tests.e2e.harness import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

# The app finds its sidecar (a sibling process started by `pydapr run`) and writes down the
# placement address it was started with.
APP = """
import os, sys, time
from pathlib import Path

app_id, out = sys.argv[1], Path(sys.argv[2])
deadline = time.time() + 20
while time.time() < deadline:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\\0")
        except OSError:
            continue
        ids = argv[argv.index(b"--app-id") + 1 :][:1] if b"--app-id" in argv else []
        if b"sidecar" in argv and ids == [app_id.encode()]:
            flag = b"--placement-host-address"
            out.write_text(argv[argv.index(flag) + 1].decode() if flag in argv else "")
            sys.exit(0)
    time.sleep(0.1)
sys.exit(1)
"""


def run(tmp_path: Path, env: dict[str, str], app_id: str, *flags: str) -> str:
    app = tmp_path / "app.py"
    app.write_text(APP)
    out = tmp_path / f"{app_id}.txt"
    done = subprocess.run(
        [sys.executable, "-m", "pydapr", "run", "--app-id", app_id, "--app-port", str(free_port()), *flags,
         "--", sys.executable, str(app), app_id, str(out)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return out.read_text()


def test_run_wires_sidecars_to_the_control_planes_placement(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "PYDAPR_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    try:
        address = run(tmp_path, env, "placed")
        control_plane = status(home)
        assert control_plane is not None
        assert control_plane.placement_address == address
        # An explicit empty address keeps placement disabled.
        assert run(tmp_path, env, "unplaced", "--placement-host-address", "") == ""

        async def tables() -> None:
            # The control plane's placement takes mTLS only: each client gets its certificate from
            # the control plane's Sentry, as a sidecar does.
            assert control_plane.sentry_address is not None and control_plane.trust_anchors_file is not None
            anchors = control_plane.trust_anchors_file.read_bytes()
            hosts = ["127.0.0.1:7001", "127.0.0.1:7002"]
            clients = []
            for i, h in enumerate(hosts):
                identity = WorkloadIdentity(
                    SpiffeId("public", "default", f"a{i}"),
                    sentry_signer(control_plane.sentry_address, anchors, "default"),
                )
                await identity.start()
                channels = Mtls(identity, "default").control_plane_channels(PLACEMENT_APP_ID)
                clients.append(
                    PlacementClient(
                        [address], app_id=f"a{i}", namespace="default", host_address=h, open_channel=channels
                    )
                )
            for c in clients:
                c.set_hosted(["e2e-actor"])
                await c.start()
            try:
                started = time.monotonic()
                owners = [
                    {(await c.lookup(ActorKey("e2e-actor", str(i)), timeout=10)).address for c in clients}
                    for i in range(20)
                ]
                assert all(len(o) == 1 for o in owners)  # both sidecars agree on every actor
                assert set().union(*owners) == set(hosts)
                assert time.monotonic() - started < 10
            finally:
                for c in clients:
                    await c.close()

        asyncio.run(tables())
    finally:
        stop(home)
    assert status(home) is None
