"""WorkflowAccessPolicy end to end, the behaviours of daprd v1.18.3's
tests/integration/suite/daprd/workflow/accesspolicy: allow, deny, deny with an empty spec, per
operation, scopes, the app's own calls, remote enforcement, reminders and forged identities at the
internal port, the reserved actor types, validation, no policy = everything allowed, and how a
denial surfaces over the SDK, the Dapr gRPC API and the HTTP API.

The mesh (as daprd's tests, with Sentry): ``pydapr sentry``, placement and scheduler over TLS, a
Redis actor store, and apps whose sidecars run with mTLS, each with a worker written with the
official SDK (``WORKER`` below; every app registers every workflow and activity, so a call that
went to the wrong app would run there). ``target`` holds the policy; ``outside`` reads the same
file, scoped away from it; ``caller`` is the one app the policy lists; ``stranger`` is listed
nowhere. A second module-level mesh without mTLS shows what daprd does there: a policy refuses
every call from another sidecar (there is no verified caller), the app's own calls still run.
"""

from __future__ import annotations

import json
import re
import textwrap
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import msgspec
import pytest
import redis
from dapr.ext.workflow import DaprWorkflowClient, WorkflowStatus

from pydapr.security.ca import CertificateAuthority
from pydapr.security.spiffe import SpiffeId
from tests.e2e.actor_mesh import redis_actor_store, start_placement, start_scheduler
from tests.e2e.harness import Proc, Processes, Sidecar, free_port, wait_port
from tests.e2e.tls_clients import client_context, signed_client_cert
from tests.e2e.workflow_mesh import COMPONENT, http, unique_id, wait_line

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

RUN = "wfacl" + uuid.uuid4().hex[:6]
WAIT = 30
DENIED = "access denied by workflow access policy"

WORKER = """
import os
import threading

import dapr.ext.workflow as wf

RECORD = os.environ["RECORD"]
wfr = wf.WorkflowRuntime(host="127.0.0.1", port=os.environ["DAPR_GRPC_PORT"])


def ran(what):
    with open(RECORD, "a") as f:
        f.write(what + "\\n")


def allowed_activity(ctx, value):
    ran("allowed_activity")
    return "allowed " + value


def denied_activity(ctx, value):
    ran("denied_activity")
    return "denied " + value


def AllowedWF(ctx, value):
    if not ctx.is_replaying:
        ran("AllowedWF")
    return "child " + value
    yield


def DeniedWF(ctx, value):
    if not ctx.is_replaying:
        ran("DeniedWF")
    return "child " + value
    yield


def waiter(ctx, _):
    got = yield ctx.wait_for_external_event("go")
    return got


def call_activity(ctx, spec):
    out = yield ctx.call_activity(spec["name"], input="x", app_id=spec["app"])
    return out


def call_child(ctx, spec):
    out = yield ctx.call_child_workflow(spec["name"], input="x", app_id=spec["app"])
    return out


def try_task(ctx, spec):
    # The failed task as the SDK hands it to the workflow: its error type and message.
    if spec["kind"] == "activity":
        task = ctx.call_activity(spec["name"], input="x", app_id=spec["app"])
    else:
        task = ctx.call_child_workflow(
            spec["name"], input="x", app_id=spec["app"], instance_id=spec.get("id")
        )
    try:
        out = yield task
    except Exception as exc:
        return {"error_type": exc.details.error_type, "message": exc.details.message}
    return {"ok": out}


def nested(ctx, _):
    # A same-app child of a workflow another app started: its end comes back inside the app.
    out = yield ctx.call_child_workflow("AllowedWF", input="inner")
    return out


for activity in (allowed_activity, denied_activity):
    wfr.register_activity(activity, name=activity.__name__)
for workflow in (AllowedWF, DeniedWF, waiter, call_activity, call_child, try_task, nested):
    wfr.register_workflow(workflow, name=workflow.__name__)

wfr.start()
print("worker ready", flush=True)
threading.Event().wait()
"""


def policy(name: str, scopes: list[str], rules: str) -> str:
    head = f"apiVersion: dapr.io/v1alpha1\nkind: WorkflowAccessPolicy\nmetadata:\n  name: {name}\n"
    scoped = "scopes:\n" + "".join(f"- {s}\n" for s in scopes) if scopes else ""
    return head + scoped + textwrap.dedent(rules).lstrip("\n")


def target_policy(caller: str, scopes: list[str]) -> str:
    return policy(
        f"{RUN}-target-policy",
        scopes,
        f"""
        spec:
          rules:
          - callers:
            - appID: {caller}
            workflows:
            - name: "Allowed*"
              operations: [schedule]
            - name: waiter
              operations: [schedule, get, raise]
            - name: nested
              operations: [schedule]
            activities:
            - name: allowed_activity
        """,
    )


@dataclass
class App:
    sidecar: Sidecar
    worker: Proc
    record: Path

    @property
    def app_id(self) -> str:
        return self.sidecar.app_id

    @contextmanager
    def client(self) -> Iterator[DaprWorkflowClient]:
        client = DaprWorkflowClient(host="127.0.0.1", port=str(self.sidecar.grpc_port))
        try:
            yield client
        finally:
            client.close()

    def ran(self) -> list[str]:
        return self.record.read_text().split() if self.record.exists() else []


@dataclass
class Mesh:
    procs: Processes
    apps: dict[str, App]
    ca: CertificateAuthority | None = None

    def __getitem__(self, name: str) -> App:
        return self.apps[name]

    def internal_port(self, app: App) -> int:
        entry = next((self.procs.home / "registry" / "default" / app.app_id).glob("*.json"))
        return int(json.loads(entry.read_text())["internalPort"])


def start_app(
    procs: Processes, name: str, resources: Path, args: list[str], env: dict[str, str], worker: Path
) -> App:
    app_id = f"{RUN}-{name}"
    sidecar = procs.sidecar(app_id, resources=resources, args=[*args, "--log-level", "info"], env=env)
    record = procs.workdir / f"{name}.ran"
    proc = procs.app(
        app_id,
        worker,
        env={
            **env,
            "APP_ID": app_id,
            "DAPR_GRPC_PORT": str(sidecar.grpc_port),
            "DAPR_HTTP_PORT": str(sidecar.http_port),
            "RECORD": str(record),
        },
    )
    wait_line(proc, "worker ready", 30)
    return App(sidecar, proc, record)


def cleanup_redis() -> None:
    client = redis.Redis(host="127.0.0.1", port=6379)
    keys = list(client.scan_iter(match=f"{RUN}-*"))
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    workdir = tmp_path_factory.mktemp("wf-acl")
    home = workdir / "home"
    home.mkdir()
    procs = Processes(home=home, workdir=workdir)
    try:
        creds = workdir / "creds"
        sentry_config = workdir / "sentry.yaml"
        sentry_config.write_text(
            "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: daprsystem\nspec:\n"
            "  mtls:\n    enabled: true\n    workloadCertTTL: 1h\n    allowedClockSkew: 2s\n"
        )
        sentry_port = free_port()
        sentry = procs.spawn(
            "sentry",
            [
                *_pydapr(),
                "sentry",
                "--port",
                str(sentry_port),
                "--issuer-credentials",
                str(creds),
                "--config",
                str(sentry_config),
            ],
        )
        wait_port(sentry_port, proc=sentry)
        sentry_address = f"127.0.0.1:{sentry_port}"
        tls = [
            "--tls-enabled",
            "--sentry-address",
            sentry_address,
            "--trust-anchors-file",
            str(creds / "ca.crt"),
        ]
        place_port, sched_port = free_port(), free_port()
        placement = procs.spawn(
            "placement",
            [
                *_pydapr(),
                "placement",
                "--port",
                str(place_port),
                "--id",
                "acl",
                "--store",
                f"sqlite://{workdir}/placement.db",
                *tls,
            ],
        )
        scheduler = procs.spawn(
            "scheduler",
            [
                *_pydapr(),
                "scheduler",
                "--port",
                str(sched_port),
                "--storage",
                f"sqlite:///{workdir}/jobs.db",
                *tls,
            ],
        )
        wait_port(place_port, proc=placement)
        wait_port(sched_port, proc=scheduler)
        resources = workdir / "resources"
        redis_actor_store(resources)
        caller_id = f"{RUN}-caller"
        # One file for every app; the scopes decide who loads it (target does, outside does not).
        (resources / "policy.yaml").write_text(target_policy(caller_id, [f"{RUN}-target"]))
        worker = workdir / "worker.py"
        worker.write_text(WORKER)
        env = {"DAPR_TRUST_ANCHORS": (creds / "ca.crt").read_text()}
        args = [
            "--placement-host-address", f"127.0.0.1:{place_port}",
            "--scheduler-host-address", f"127.0.0.1:{sched_port}",
            "--enable-mtls", "--sentry-address", sentry_address,
        ]  # fmt: skip
        apps = {
            name: start_app(procs, name, resources, args, env, worker)
            for name in ("target", "outside", "caller", "stranger")
        }
        # denyemptyspec: a policy with no rules at all.
        empty = workdir / "empty-resources"
        redis_actor_store(empty)
        (empty / "policy.yaml").write_text(policy(f"{RUN}-empty", [], "spec: {}\n"))
        apps["empty"] = start_app(procs, "empty", empty, args, env, worker)
        yield Mesh(procs, apps, CertificateAuthority.load(creds))
    finally:
        procs.stop_all()
        cleanup_redis()


def _pydapr() -> list[str]:
    import sys

    return [sys.executable, "-m", "pydapr"]


def run_to_end(client: DaprWorkflowClient, workflow: str, spec: Any) -> Any:
    instance_id = client.schedule_new_workflow(workflow, input=spec, instance_id=unique_id(workflow))
    state = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=WAIT)
    assert state is not None
    return state


def metric(sidecar: Sidecar, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    args = list(sidecar.popen.args)  # type: ignore[arg-type]
    port = args[args.index("--metrics-port") + 1]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


# --- allow and deny ------------------------------------------------------------------------------


def test_an_allowed_cross_app_activity_runs_on_the_target(mesh: Mesh) -> None:
    target, caller = mesh["target"], mesh["caller"]
    before = metric(
        target.sidecar, "dapr_runtime_workflow_acl_action_allowed_total", src_app_id=caller.app_id
    )
    with caller.client() as client:
        state = run_to_end(client, "call_activity", {"name": "allowed_activity", "app": target.app_id})
    assert state.runtime_status == WorkflowStatus.COMPLETED, state
    assert json.loads(state.serialized_output) == "allowed x"
    assert "allowed_activity" in target.ran() and "allowed_activity" not in caller.ran()
    labels = {"src_app_id": caller.app_id, "operation": "schedule", "type": "activity"}
    assert metric(target.sidecar, "dapr_runtime_workflow_acl_action_allowed_total", **labels) >= 1
    assert (
        metric(target.sidecar, "dapr_runtime_workflow_acl_action_allowed_total", src_app_id=caller.app_id)
        > before
    )


def test_a_denied_activity_fails_the_task_and_never_runs(mesh: Mesh) -> None:
    target, caller = mesh["target"], mesh["caller"]
    labels = {
        "app_id": target.app_id,
        "src_app_id": caller.app_id,
        "operation": "schedule",
        "type": "activity",
    }
    before = metric(target.sidecar, "dapr_runtime_workflow_acl_action_denied_total", **labels)
    ran = target.ran().count("denied_activity")
    with caller.client() as client:
        state = run_to_end(client, "call_activity", {"name": "denied_activity", "app": target.app_id})
    assert state.runtime_status == WorkflowStatus.FAILED, state
    assert DENIED in state.failure_details.message
    assert target.ran().count("denied_activity") == ran
    assert metric(target.sidecar, "dapr_runtime_workflow_acl_action_denied_total", **labels) == before + 1


def test_a_denied_child_workflow_fails_the_parent(mesh: Mesh) -> None:
    # remoteenforce: the caller has no policy; the refusal is the target's, on the caller's
    # certificate.
    target, caller = mesh["target"], mesh["caller"]
    ran = target.ran().count("DeniedWF")
    with caller.client() as client:
        denied = run_to_end(client, "call_child", {"name": "DeniedWF", "app": target.app_id})
        allowed = run_to_end(client, "call_child", {"name": "AllowedWF", "app": target.app_id})
    assert denied.runtime_status == WorkflowStatus.FAILED, denied
    assert DENIED in denied.failure_details.message
    assert target.ran().count("DeniedWF") == ran
    assert allowed.runtime_status == WorkflowStatus.COMPLETED, allowed
    assert json.loads(allowed.serialized_output) == "child x"


def test_the_failed_task_carries_daprd_s_error_type(mesh: Mesh) -> None:
    target, caller = mesh["target"], mesh["caller"]
    denied = {"error_type": "WorkflowAccessPolicyDenied", "message": DENIED}
    with caller.client() as client:
        for kind, name in (("activity", "denied_activity"), ("child", "DeniedWF")):
            state = run_to_end(client, "try_task", {"kind": kind, "name": name, "app": target.app_id})
            assert json.loads(state.serialized_output) == denied, (kind, state)
        # An instance id another workflow holds (allowed by the policy, refused by the target).
        busy = unique_id("busy")
        client.schedule_new_workflow("waiter", instance_id=busy, app_id=target.app_id)
        client.wait_for_workflow_start(busy, timeout_in_seconds=WAIT, app_id=target.app_id)
        spec = {"kind": "child", "name": "AllowedWF", "app": target.app_id, "id": busy}
        taken = json.loads(run_to_end(client, "try_task", spec).serialized_output)
        client.raise_workflow_event(busy, "go", data="done", app_id=target.app_id)
    assert taken["error_type"] == "WorkflowInstanceAlreadyExists", taken
    assert taken["message"] == f"an active workflow with ID '{busy}' already exists"


def test_a_caller_no_rule_lists_is_denied_everything(mesh: Mesh) -> None:
    target, stranger = mesh["target"], mesh["stranger"]
    ran_before = target.ran()
    with stranger.client() as client:
        child = run_to_end(client, "call_child", {"name": "AllowedWF", "app": target.app_id})
        activity = run_to_end(client, "call_activity", {"name": "allowed_activity", "app": target.app_id})
        instance_id = unique_id("s")
        with pytest.raises(grpc.RpcError) as info:
            client.schedule_new_workflow(
                "AllowedWF", input="x", instance_id=instance_id, app_id=target.app_id
            )
    for state in (child, activity):
        assert state.runtime_status == WorkflowStatus.FAILED, state
        assert DENIED in state.failure_details.message
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert info.value.details() == (
        f"{DENIED}: app '{stranger.app_id}' operation 'schedule' on workflow 'AllowedWF' "
        f"(instance '{instance_id}')"
    )
    assert target.ran() == ran_before


def test_a_policy_with_an_empty_spec_denies_every_cross_app_call(mesh: Mesh) -> None:
    empty, caller = mesh["empty"], mesh["caller"]
    with caller.client() as client:
        state = run_to_end(client, "call_child", {"name": "AllowedWF", "app": empty.app_id})
    assert state.runtime_status == WorkflowStatus.FAILED, state
    assert DENIED in state.failure_details.message
    assert "AllowedWF" not in empty.ran()
    assert "Loaded 1 workflow access policy resource(s)" in empty.sidecar.log()
    with empty.client() as client:
        own = run_to_end(client, "call_child", {"name": "AllowedWF", "app": empty.app_id})
    assert own.runtime_status == WorkflowStatus.COMPLETED, own


def test_a_policy_scoped_to_another_app_is_not_loaded(mesh: Mesh) -> None:
    # scopes: "outside" reads the same file but is not in its scopes: everything is allowed there.
    outside, stranger = mesh["outside"], mesh["stranger"]
    with stranger.client() as client:
        state = run_to_end(client, "call_child", {"name": "DeniedWF", "app": outside.app_id})
        activity = run_to_end(client, "call_activity", {"name": "denied_activity", "app": outside.app_id})
    assert state.runtime_status == WorkflowStatus.COMPLETED, state
    assert activity.runtime_status == WorkflowStatus.COMPLETED, activity
    assert "DeniedWF" in outside.ran() and "denied_activity" in outside.ran()


def test_the_app_s_own_calls_are_never_checked(mesh: Mesh) -> None:
    # selfcall / sameapp: the target's own client and its own child workflows, under a policy that
    # does not list it; a child started by another app runs a same-app child of its own.
    target, caller = mesh["target"], mesh["caller"]
    with target.client() as client:
        own = run_to_end(client, "call_activity", {"name": "denied_activity", "app": target.app_id})
        instance_id = client.schedule_new_workflow("waiter", instance_id=unique_id("own"))
        client.wait_for_workflow_start(instance_id, timeout_in_seconds=WAIT)
        client.pause_workflow(instance_id)
        client.resume_workflow(instance_id)
        client.terminate_workflow(instance_id)
        client.wait_for_workflow_completion(instance_id, timeout_in_seconds=WAIT)
        client.purge_workflow(instance_id)
        assert client.get_workflow_state(instance_id) is None
    assert own.runtime_status == WorkflowStatus.COMPLETED, own
    with caller.client() as client:
        nested = run_to_end(client, "call_child", {"name": "nested", "app": target.app_id})
    assert nested.runtime_status == WorkflowStatus.COMPLETED, nested
    assert json.loads(nested.serialized_output) == "child inner"


def test_results_come_back_to_an_app_that_has_a_policy(mesh: Mesh) -> None:
    # The target (with its policy) calls an activity and a child on an app its rules do not list:
    # the result and the child's end come back from the app each task went to.
    target, outside = mesh["target"], mesh["outside"]
    with target.client() as client:
        activity = run_to_end(client, "call_activity", {"name": "allowed_activity", "app": outside.app_id})
        child = run_to_end(client, "call_child", {"name": "AllowedWF", "app": outside.app_id})
    assert activity.runtime_status == WorkflowStatus.COMPLETED, activity
    assert json.loads(activity.serialized_output) == "allowed x"
    assert child.runtime_status == WorkflowStatus.COMPLETED, child
    assert json.loads(child.serialized_output) == "child x"


# --- per operation, over each API -------------------------------------------------------------------


def test_each_operation_is_granted_on_its_own_over_durabletask(mesh: Mesh) -> None:
    # peroperation / partialauthbypass: schedule, get and raise on "waiter" are granted; pause,
    # resume, terminate, purge and rerun are not, and reach nothing.
    target, caller = mesh["target"], mesh["caller"]
    app = target.app_id
    with caller.client() as client, target.client() as at_target:
        instance_id = client.schedule_new_workflow("waiter", instance_id=unique_id("ops"), app_id=app)
        state = client.wait_for_workflow_start(instance_id, timeout_in_seconds=WAIT, app_id=app)
        assert state is not None and state.runtime_status == WorkflowStatus.RUNNING
        refused = {
            "pause": lambda: client.pause_workflow(instance_id, app_id=app),
            "resume": lambda: client.resume_workflow(instance_id, app_id=app),
            "terminate": lambda: client.terminate_workflow(instance_id, app_id=app),
            "purge": lambda: client.purge_workflow(instance_id, app_id=app),
            "rerun": lambda: client.rerun_workflow_from_event(instance_id, 0, app_id=app),
        }
        for operation, call in refused.items():
            with pytest.raises(grpc.RpcError) as info:
                call()
            assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED, operation
            assert info.value.details() == (
                f"{DENIED}: app '{caller.app_id}' operation '{operation}' on workflow 'waiter' "
                f"(instance '{instance_id}')"
            ), operation
        running = at_target.get_workflow_state(instance_id)
        assert running is not None and running.runtime_status == WorkflowStatus.RUNNING
        client.raise_workflow_event(instance_id, "go", data="went", app_id=app)
        done = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=WAIT, app_id=app)
        assert done is not None and json.loads(done.serialized_output) == "went"
        # The denied purge left it; the target's own purge removes it.
        at_target.purge_workflow(instance_id)
        # A get on an instance that is not there names no workflow: only a "*" rule would match.
        with pytest.raises(grpc.RpcError) as gone:
            client.get_workflow_state(instance_id, app_id=app)
        assert gone.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "operation 'get' on workflow ''" in (gone.value.details() or "")


def test_a_denial_over_the_dapr_grpc_and_http_apis(mesh: Mesh) -> None:
    from dapr.proto.runtime.v1 import dapr_pb2_grpc

    from pydapr.api.grpc.wire import runtime

    target, caller = mesh["target"], mesh["caller"]
    app = target.app_id
    instance_id = unique_id("api")
    with caller.client() as client:
        client.schedule_new_workflow("waiter", instance_id=instance_id, app_id=app)
        client.wait_for_workflow_start(instance_id, timeout_in_seconds=WAIT, app_id=app)
    with grpc.insecure_channel(f"127.0.0.1:{caller.sidecar.grpc_port}") as channel:
        stub = dapr_pb2_grpc.DaprStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.TerminateWorkflowBeta1(
                runtime.TerminateWorkflowRequest(
                    workflow_component=COMPONENT, instance_id=instance_id, app_id=app
                ),
                timeout=WAIT,
            )
        assert info.value.code() == grpc.StatusCode.INTERNAL
        details = info.value.details() or ""
        assert details.startswith(f"error terminating workflow '{instance_id}': "), details
        assert details.endswith(
            f": {DENIED}: app '{caller.app_id}' operation 'terminate' on workflow 'waiter' "
            f"(instance '{instance_id}')"
        ), details
        got = stub.GetWorkflowBeta1(
            runtime.GetWorkflowRequest(workflow_component=COMPONENT, instance_id=instance_id, app_id=app),
            timeout=WAIT,
        )
        assert got.runtime_status == "RUNNING"
    base = f"{caller.sidecar.url}/v1.0-beta1/workflows/{COMPONENT}/{instance_id}"
    paused = http("POST", f"{base}/pause?appID={app}")
    assert paused.status == 500, paused
    code, message = paused.error
    assert code == "ERR_PAUSE_WORKFLOW", paused
    assert message == (
        f"error pausing workflow {instance_id}: failed to pause workflow {instance_id}: failed to suspend "
        f"workflow: {DENIED}: app '{caller.app_id}' operation 'pause' on workflow 'waiter' "
        f"(instance '{instance_id}')"
    )
    raised = http("POST", f"{base}/raiseEvent/go?appID={app}", b'"via http"')
    assert raised.status == 202, raised
    with target.client() as at_target:
        done = at_target.wait_for_workflow_completion(instance_id, timeout_in_seconds=WAIT)
        assert done is not None and json.loads(done.serialized_output) == "via http"


# --- the internal port: who the caller is ----------------------------------------------------------


def _peer_call(mesh: Mesh, target: App, who: SpiffeId, op: str, envelope: dict[str, Any], tmp: Path) -> Any:
    """One call to the target's internal port as a sidecar of ``who`` would send it."""
    assert mesh.ca is not None
    chain, key = signed_client_cert(mesh.ca, who, not_after=_hours(1))
    ctx = client_context(mesh.ca.trust_anchors_pem, chain, key, tmp)
    body = msgspec.msgpack.encode(envelope)
    request = urllib.request.Request(
        f"https://127.0.0.1:{mesh.internal_port(target)}/__pydapr/actors/{op}",
        data=body,
        method="POST",
        headers={"content-type": "application/msgpack", "dapr-caller-app-id": target.app_id},
    )
    ctx.check_hostname = False  # the port is the target's: its name is not what is tested here
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx))
    try:
        with opener.open(request, timeout=10) as resp:
            return resp.status, msgspec.msgpack.decode(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, msgspec.msgpack.decode(exc.read())


def _hours(n: int) -> Any:
    import datetime as dt

    return dt.datetime.now(dt.UTC) + dt.timedelta(hours=n)


def test_a_forged_identity_and_cross_app_reminders_are_refused(mesh: Mesh, tmp_path: Path) -> None:
    # invokeactor / reminderbypass: a peer that names the target as the caller in its metadata is
    # still its certificate's app; reminders of the internal types come only from the target's own
    # replicas.
    target = mesh["target"]
    wf_type = f"dapr.internal.default.{target.app_id}.workflow"
    stranger = SpiffeId("public", "default", mesh["stranger"].app_id)
    forged = {
        "actor_type": wf_type,
        "actor_id": unique_id("forged"),
        "method": "PurgeWorkflowState",
        "metadata": {"dapr-caller-app-id": target.app_id, "dapr-caller-namespace": "default"},
        "timeout": 10.0,
    }
    status, answer = _peer_call(mesh, target, stranger, "invoke", forged, tmp_path)
    assert status == 200 and answer["error"], answer
    assert json.loads(answer["data"])["message"] == (
        f"{DENIED}: app '{stranger.app_id}' operation 'purge' on workflow '' "
        f"(instance '{forged['actor_id']}')"
    )
    reminder = {"actor_type": wf_type, "actor_id": forged["actor_id"], "name": "keepalive", "timeout": 10.0}
    status, failure = _peer_call(mesh, target, stranger, "reminder", reminder, tmp_path)
    assert status == 500 and failure["message"] == DENIED and failure["grpc_status"] == "PERMISSION_DENIED"
    other_namespace = SpiffeId("public", "prod", mesh["caller"].app_id)
    status, failure = _peer_call(mesh, target, other_namespace, "invoke", forged, tmp_path)
    assert status == 500 and failure["message"] == DENIED
    labels = {"src_app_id": stranger.app_id, "operation": "invoke", "type": "reminder"}
    assert metric(target.sidecar, "dapr_runtime_workflow_acl_action_denied_total", **labels) >= 1


def test_the_reserved_actor_types_refuse_the_actor_api(mesh: Mesh) -> None:
    target = mesh["target"]
    reserved = f"dapr.internal.default.{target.app_id}.activity"
    base = f"{target.sidecar.url}/v1.0/actors/{reserved}/any"
    for verb, path, body in [
        ("POST", "/state", []),
        ("GET", "/state/k", None),
        ("POST", "/reminders/spoof", {"dueTime": "1s"}),
        ("PUT", "/method/Execute", {}),
    ]:
        got = http(verb, base + path, body)
        assert got.status == 403, (verb, path, got)
        assert "reserved for the Dapr workflow runtime" in got.error[1]


# --- without mTLS, validation, no policy ------------------------------------------------------------


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    workdir = tmp_path_factory.mktemp("wf-acl-plain")
    home = workdir / "home"
    home.mkdir()
    procs = Processes(home=home, workdir=workdir)
    try:
        placement = start_placement(procs, "plain", f"sqlite://{workdir}/placement.db")[1]
        scheduler = start_scheduler(procs)
        args = ["--placement-host-address", placement, "--scheduler-host-address", scheduler]
        worker = workdir / "worker.py"
        worker.write_text(WORKER)
        caller_id = f"{RUN}-pcaller"
        guarded, open_, invalid = workdir / "guarded", workdir / "open", workdir / "invalid"
        for folder in (guarded, open_, invalid):
            redis_actor_store(folder)
        (guarded / "policy.yaml").write_text(target_policy(caller_id, []))
        (invalid / "policy.yaml").write_text(
            policy(f"{RUN}-empty-rule", [], f"spec:\n  rules:\n  - callers:\n    - appID: {caller_id}\n")
            + "---\n"
            + policy(
                f"{RUN}-empty-ops",
                [],
                "spec:\n  rules:\n  - callers: [{appID: x}]\n    workflows: [{name: w, operations: []}]\n",
            )
        )
        apps = {
            "guarded": start_app(procs, "pguarded", guarded, args, {}, worker),
            "open": start_app(procs, "popen", open_, args, {}, worker),
            "invalid": start_app(procs, "pinvalid", invalid, args, {}, worker),
            "caller": start_app(procs, "pcaller", open_, args, {}, worker),
        }
        yield Mesh(procs, apps)
    finally:
        procs.stop_all()
        cleanup_redis()


def test_without_mtls_a_policy_refuses_every_other_sidecar(plain: Mesh) -> None:
    # As daprd: with no certificate there is no caller to decide on, so even the listed caller's
    # allowed activity is refused; the app's own calls run.
    guarded, caller = plain["guarded"], plain["caller"]
    with caller.client() as client:
        state = run_to_end(client, "call_activity", {"name": "allowed_activity", "app": guarded.app_id})
        with pytest.raises(grpc.RpcError) as info:
            client.schedule_new_workflow(
                "AllowedWF", input="x", instance_id=unique_id("p"), app_id=guarded.app_id
            )
    assert state.runtime_status == WorkflowStatus.FAILED, state
    assert DENIED in state.failure_details.message
    assert (info.value.code(), info.value.details()) == (grpc.StatusCode.PERMISSION_DENIED, DENIED)
    assert "allowed_activity" not in guarded.ran()
    with guarded.client() as client:
        own = run_to_end(client, "call_activity", {"name": "denied_activity", "app": guarded.app_id})
    assert own.runtime_status == WorkflowStatus.COMPLETED, own


def test_no_policy_or_only_invalid_ones_allow_everything(plain: Mesh) -> None:
    open_, invalid, caller = plain["open"], plain["invalid"], plain["caller"]
    for app in (open_, invalid):
        with caller.client() as client:
            state = run_to_end(client, "call_activity", {"name": "denied_activity", "app": app.app_id})
            child = run_to_end(client, "call_child", {"name": "DeniedWF", "app": app.app_id})
        assert state.runtime_status == WorkflowStatus.COMPLETED, (app.app_id, state)
        assert child.runtime_status == WorkflowStatus.COMPLETED, (app.app_id, child)
    log = invalid.sidecar.log()
    for name in ("empty-rule", "empty-ops"):  # the log line's quotes are escaped (logfmt)
        assert re.search(rf'WorkflowAccessPolicy \\?"{RUN}-{name}\\?" failed validation, skipping: ', log), (
            name
        )
    assert "at least one of workflows or activities must contain a rule" in log
    assert "Loaded 1 workflow access policy resource(s)" in plain["guarded"].sidecar.log()
    assert "workflow access policy resource" not in invalid.sidecar.log()
