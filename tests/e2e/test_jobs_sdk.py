"""Jobs end to end: a real scheduler process, a real sidecar, the official Python SDK, and apps that
receive triggers over HTTP (``POST /job/{name}``) and over gRPC (``dapr.ext.grpc`` ``@app.job_event``)."""

from __future__ import annotations

import json
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError
from dapr.clients.grpc._jobs import ConstantFailurePolicy, Job
from google.protobuf.any_pb2 import Any as AnyPb
from google.protobuf.wrappers_pb2 import StringValue

from tests.e2e.harness import Processes, free_port, records, wait_port

HTTP_APP = """
import json, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

out = open(sys.argv[1], "a", buffering=1)

class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        out.write(json.dumps({"path": self.path, "body": body.decode(),
                              "ct": self.headers.get("content-type")}) + "\\n")
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(os.environ["APP_PORT"])), Handler).serve_forever()
"""

GRPC_APP = """
import json, os, sys
from dapr.ext.grpc import App

app = App()
out = open(sys.argv[1], "a", buffering=1)

@app.job_event("report")
def report(event):
    out.write(json.dumps({"name": event.name, "data": event.get_data_as_string()}) + "\\n")

app.run(int(os.environ["APP_PORT"]), listen_address="127.0.0.1")
"""


def start_scheduler(procs: Processes) -> str:
    port = free_port()
    proc = procs.spawn(
        "scheduler",
        [sys.executable, "-m", "pydapr", "scheduler", "--port", str(port), "--storage",
         f"sqlite://{procs.workdir}/jobs.db"],
    )  # fmt: skip
    wait_port(port, proc=proc)
    return f"127.0.0.1:{port}"


def start_app(procs: Processes, source: str, port: int, record: Path) -> None:
    script = procs.workdir / f"app_{port}.py"
    script.write_text(textwrap.dedent(source))
    proc = procs.app(str(port), script, env={"APP_PORT": str(port)}, args=[str(record)])
    wait_port(port, proc=proc)


def lines(path: Path, n: int, timeout: float = 15.0) -> list[dict[str, str]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = records(path)
        if len(got) >= n:
            return got
        time.sleep(0.1)
    raise AssertionError(f"expected {n} triggers in {path}: {path.read_text() if path.exists() else ''}")


def http(method: str, url: str, body: dict[str, object] | None = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# SDK 1.16's *_alpha1 job calls warn on every use.
pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:The Jobs API is an Alpha version")]


def job_calls(client: DaprClient) -> tuple[Any, Any, Any]:
    """schedule_job, get_job, delete_job; SDK 1.16 has only the *_alpha1 names (the Alpha1 RPCs)."""
    suffix = "" if hasattr(client, "schedule_job") else "_alpha1"
    return tuple(getattr(client, f"{verb}_job{suffix}") for verb in ("schedule", "get", "delete"))  # type: ignore[return-value]


def test_http_app_gets_triggers_scheduled_over_http_and_sdk(procs: Processes, dapr_settings) -> None:  # type: ignore[no-untyped-def]
    scheduler = start_scheduler(procs)
    app_port = free_port()
    record = procs.workdir / "http-triggers.jsonl"
    start_app(procs, HTTP_APP, app_port, record)
    sidecar = procs.sidecar("jobs-http", app_port=app_port, args=["--scheduler-host-address", scheduler])
    procs.wait_healthy(sidecar)
    url = f"{sidecar.url}/v1.0-alpha1/jobs"

    status, _ = http("POST", f"{url}/backup", {"dueTime": "1s", "data": {"db": "prod"}})
    assert status == 204
    status, body = http("GET", f"{url}/backup")
    assert status == 200
    got = json.loads(body)
    assert got["name"] == "backup" and got["dueTime"] == "1s"
    assert got["data"]["value"] == {"db": "prod"}
    status, body = http("POST", f"{url}/backup", {"dueTime": "1s"})
    assert status == 500 and json.loads(body)["errorCode"] == "ERR_SCHEDULER_SCHEDULE_JOB"
    status, body = http("POST", f"{sidecar.url}/v1.0/jobs/bad", {"schedule": "every day"})
    assert status == 500 and json.loads(body)["errorCode"] == "ERR_SCHEDULER_SCHEDULE_JOB"
    status, body = http("POST", f"{url}/empty", {})
    assert status == 400 and json.loads(body)["errorCode"] == "ERR_MALFORMED_REQUEST"

    dapr_settings(sidecar)
    with DaprClient() as client:
        data = AnyPb()
        data.Pack(StringValue(value="from-sdk"))
        schedule_job, get_job, delete_job = job_calls(client)
        schedule_job(Job(name="sdk-job", schedule="@every 1s", repeats=2, data=data))
        job = get_job("sdk-job")
        assert (job.schedule, job.repeats) == ("@every 1s", 2)
        assert isinstance(job.failure_policy, ConstantFailurePolicy)
        with pytest.raises(DaprGrpcError):
            schedule_job(Job(name="sdk-job", schedule="@every 1s"))
        schedule_job(Job(name="doomed", due_time="10s"))
        delete_job("doomed")
        with pytest.raises(DaprGrpcError):
            get_job("doomed")

    triggers = lines(record, 3)
    time.sleep(1.5)
    triggers = lines(record, 3)
    paths = sorted(t["path"] for t in triggers)
    assert paths == ["/job/backup", "/job/sdk-job", "/job/sdk-job"]
    backup = next(t for t in triggers if t["path"] == "/job/backup")
    assert json.loads(backup["body"]) == {"db": "prod"}
    assert backup["ct"] == "application/json"


def test_grpc_app_gets_triggers_through_on_job_event(procs: Processes, dapr_settings) -> None:  # type: ignore[no-untyped-def]
    scheduler = start_scheduler(procs)
    app_port = free_port()
    record = procs.workdir / "grpc-triggers.jsonl"
    start_app(procs, GRPC_APP, app_port, record)
    sidecar = procs.sidecar(
        "jobs-grpc", app_port=app_port, app_protocol="grpc", args=["--scheduler-host-address", scheduler]
    )
    procs.wait_healthy(sidecar)
    dapr_settings(sidecar)
    with DaprClient() as client:
        data = AnyPb(value=b"quarterly")
        job_calls(client)[0](Job(name="report", due_time="1s", data=data))
    assert lines(record, 1) == [{"name": "report", "data": "quarterly"}]


def test_jobs_survive_a_sidecar_restart(procs: Processes) -> None:
    scheduler = start_scheduler(procs)
    app_port = free_port()
    record = procs.workdir / "restart-triggers.jsonl"
    start_app(procs, HTTP_APP, app_port, record)
    args = ["--scheduler-host-address", scheduler]
    sidecar = procs.sidecar("jobs-restart", app_port=app_port, args=args)
    status, _ = http("POST", f"{sidecar.url}/v1.0/jobs/later", {"dueTime": "3s", "data": "x"})
    assert status == 204
    sidecar.stop()
    time.sleep(3.5)  # due while no sidecar is there: delivered when one comes back
    assert not record.exists() or not record.read_text()
    procs.sidecar("jobs-restart", app_port=app_port, args=args)
    assert [t["path"] for t in lines(record, 1)] == ["/job/later"]
