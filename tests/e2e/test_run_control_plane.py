"""`pydapr run` with no --scheduler-host-address starts the local control plane and wires the
sidecar to its scheduler, so the jobs API works with no setup."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pydapr.controlplane import status, stop
from tests.e2e.harness import free_port, records

pytestmark = pytest.mark.e2e

APP = """
import json, os, sys, threading, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

out = sys.argv[1]
done = threading.Event()

class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        with open(out, "a") as f:
            f.write(json.dumps({"path": self.path, "body": body.decode()}) + "\\n")
        self.send_response(200)
        self.end_headers()
        if self.path.startswith("/job/"):
            done.set()

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["APP_PORT"])), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
req = urllib.request.Request(
    f"http://127.0.0.1:{os.environ['DAPR_HTTP_PORT']}/v1.0-alpha1/jobs/ping",
    data=json.dumps({"dueTime": "1s", "data": {"hello": "jobs"}}).encode(),
    method="POST",
    headers={"content-type": "application/json"},
)
urllib.request.urlopen(req, timeout=10)
done.wait(30)
server.shutdown()
"""


def test_run_starts_control_plane_and_jobs_fire(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    app = tmp_path / "app.py"
    app.write_text(APP)
    received = tmp_path / "received.jsonl"
    env = {**os.environ, "PYDAPR_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    try:
        started = time.monotonic()
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "pydapr",
                "run",
                "--app-id",
                "cron",
                "--app-port",
                str(free_port()),
                "--",
                sys.executable,
                str(app),
                str(received),
            ],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert "Exited App successfully" in out.stdout
        # mTLS is on by default: the sidecar got its certificate from the control plane's Sentry
        # and reached the scheduler over mTLS (the job fired).
        assert "mTLS on (spiffe://public/ns/default/cron)" in out.stdout
        lines = records(received)
        jobs = [line for line in lines if line["path"] == "/job/ping"]
        assert len(jobs) == 1
        assert json.loads(jobs[0]["body"]) == {"hello": "jobs"}
        assert time.monotonic() - started < 60
        # The control plane outlives the run, as `dapr init`'s services do, and is reused next time.
        control_plane = status(home)
        assert control_plane is not None
    finally:
        stop(home)
    assert status(home) is None
