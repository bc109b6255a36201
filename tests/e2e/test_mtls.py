"""mTLS between sidecars, end to end: a real ``pydapr sentry`` signs the certificates (6 s long, so
they rotate every ~4 s during this module), sidecars call each other over mTLS, access control
decides on the caller's certificate, and clients without a right certificate are refused.

Apps: "orders" (FastAPI, HTTP) and "greeter" (dapr-ext-grpc, gRPC, whose sidecar requires a
DAPR_API_TOKEN); "caller" and "stranger" are sidecars without an app that call them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from pydapr.security.ca import CertificateAuthority
from pydapr.security.spiffe import SENTRY_APP_ID, SpiffeId, dns_name
from tests.e2e.conftest import APPS
from tests.e2e.harness import Proc, Processes, Sidecar, free_port, wait_port
from tests.e2e.tls_clients import client_context, signed_client_cert, tls_get

pytestmark = pytest.mark.e2e

TOKEN = "greeter-sidecar-token"
CERT_TTL = 6  # seconds: renewed at 70%, so every ~4 s

ORDERS_CONFIG = """
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: orders
spec:
  accessControl:
    defaultAction: deny
    trustDomain: public
    policies:
      - appId: caller
        defaultAction: deny
        trustDomain: public
        namespace: default
        operations:
          - name: /echo/**
            httpVerb: ["GET", "POST"]
            action: allow
          - name: /neworder
            httpVerb: ["*"]
            action: allow
"""

GREETER_CONFIG = """
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: greeter
spec:
  accessControl:
    defaultAction: allow
    trustDomain: public
    policies:
      - appId: caller
        trustDomain: public
        namespace: default
        operations:
          - name: /test.Greeter/Count
            action: deny
          - name: /fail
            action: deny
"""


@dataclass
class Secure:
    procs: Processes
    creds: Path  # Sentry's ca.crt, issuer.crt, issuer.key
    orders: Sidecar
    greeter: Sidecar
    caller: Sidecar
    stranger: Sidecar
    apps: list[Proc]
    sentry_address: str

    def internal_ports(self, app_id: str) -> tuple[int, int]:
        entry = next((self.procs.home / "registry" / "default" / app_id).glob("*.json"))
        data = json.loads(entry.read_text())
        return int(data["internalPort"]), int(data["internalGrpcPort"])

    @property
    def ca(self) -> CertificateAuthority:
        return CertificateAuthority.load(self.creds)


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secure]:
    workdir = tmp_path_factory.mktemp("mtls")
    home = workdir / "home"
    home.mkdir()
    procs = Processes(home=home, workdir=workdir)
    try:
        sentry_config = workdir / "sentry.yaml"
        sentry_config.write_text(
            "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: daprsystem\nspec:\n"
            f"  mtls:\n    enabled: true\n    workloadCertTTL: {CERT_TTL}s\n    allowedClockSkew: 2s\n"
        )
        creds = workdir / "creds"
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
        env = {"DAPR_TRUST_ANCHORS": (creds / "ca.crt").read_text()}
        mtls = ["--enable-mtls", "--sentry-address", f"127.0.0.1:{sentry_port}"]
        apps = []

        def with_app(app_id: str, script: str, protocol: str, config: str, extra: dict[str, str]) -> Sidecar:
            config_file = workdir / f"{app_id}.yaml"
            config_file.write_text(textwrap.dedent(config))
            app_port = free_port()
            sidecar = procs.sidecar(
                app_id,
                app_port=app_port,
                app_protocol=protocol,
                config=config_file,
                args=mtls,
                env={**env, **extra},
                wait=False,
            )
            app_env = {
                "APP_ID": app_id,
                "APP_PORT": str(app_port),
                "DAPR_HTTP_PORT": str(sidecar.http_port),
                "DAPR_GRPC_PORT": str(sidecar.grpc_port),
                **extra,
            }
            app = procs.app(app_id, APPS / script, env=app_env)
            apps.append(app)
            wait_port(app_port, proc=app)
            procs.wait_healthy(sidecar)
            return sidecar

        orders = with_app("orders", "http_app.py", "http", ORDERS_CONFIG, {})
        greeter = with_app("greeter", "grpc_app.py", "grpc", GREETER_CONFIG, {"DAPR_API_TOKEN": TOKEN})
        caller = procs.sidecar("caller", args=mtls, env=env)
        stranger = procs.sidecar("stranger", args=mtls, env=env)
        yield Secure(procs, creds, orders, greeter, caller, stranger, apps, f"127.0.0.1:{sentry_port}")
    finally:
        procs.stop_all()


def _pydapr() -> list[str]:
    import sys

    return [sys.executable, "-m", "pydapr"]


def call(
    url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _ident(b: bytes) -> bytes:
    return b


def counters(sidecar: Sidecar, prefix: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The sidecar's counter samples whose names start with ``prefix``, from its metrics port."""
    from prometheus_client.parser import text_string_to_metric_families

    args = list(sidecar.popen.args)  # type: ignore[arg-type]
    port = args[args.index("--metrics-port") + 1]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith(prefix)
    }


# --- calls over mTLS, and who the caller is ------------------------------------------------------
def test_invocation_runs_over_mtls_and_the_caller_is_its_certificate(secure: Secure) -> None:
    status, body = call(
        f"{secure.caller.url}/v1.0/invoke/orders/method/echo/hi",
        "POST",
        b"{}",
        # A header cannot make the caller someone else: the callee takes the certificate's id.
        headers={"dapr-caller-app-id": "admin", "content-type": "application/json"},
    )
    assert status == 200, body
    assert body["app"] == "orders" and body["path"] == "hi"
    assert body["headers"]["dapr-caller-app-id"] == "caller"
    for sidecar in (secure.orders, secure.caller):
        assert re.search(r"mTLS on \(spiffe://public/ns/default/" + sidecar.app_id + r"\)", sidecar.log())


# --- access control ----------------------------------------------------------------------------------
def test_access_control_over_http_by_operation_and_verb(secure: Secure) -> None:
    before = counters(secure.orders, "dapr_runtime_acl_")
    base = f"{secure.caller.url}/v1.0/invoke/orders/method"
    assert call(f"{base}/echo/a/b", "GET")[0] == 200  # /echo/** for GET and POST
    assert call(f"{base}/neworder", "POST", b"{}", {"content-type": "application/json"})[0] == 200
    status, err = call(f"{base}/echo/a", "DELETE")  # a verb the operation does not list
    assert status == 403 and err["errorCode"] == "ERR_DIRECT_INVOKE"
    assert (
        "access control policy has denied access to id: spiffe://public/ns/default/caller "
        "operation: echo/a verb: DELETE" in err["message"]
    ), err
    assert "code = PermissionDenied" in err["message"]
    status, err = call(f"{base}/teapot")  # not listed: the app policy's default (deny)
    assert status == 403 and "operation: teapot verb: GET" in err["message"]
    # An app without a policy gets the global default (deny).
    status, err = call(
        f"{secure.stranger.url}/v1.0/invoke/orders/method/neworder",
        "POST",
        b"{}",
        {"content-type": "application/json"},
    )
    assert status == 403 and "spiffe://public/ns/default/stranger" in err["message"]
    # The callee counts each decision by the caller's identity: the caller's policy has a
    # defaultAction, so it decided (daprd's "app" series); the stranger met the global default.
    after = counters(secure.orders, "dapr_runtime_acl_")
    caller = (("app_id", "caller"), ("namespace", "default"), ("trustDomain", "public"))
    stranger = (("app_id", "stranger"), ("namespace", "default"), ("trustDomain", "public"))
    changed = {key: n - before.get(key, 0.0) for key, n in after.items() if n != before.get(key, 0.0)}
    assert changed == {
        ("dapr_runtime_acl_app_policy_action_allowed_total", caller): 2.0,
        ("dapr_runtime_acl_app_policy_action_blocked_total", caller): 2.0,
        ("dapr_runtime_acl_global_policy_action_blocked_total", stranger): 1.0,
    }


def test_access_control_over_grpc_invocation_with_the_sdk(secure: Secure, dapr_settings: Any) -> None:
    from dapr.clients import DaprClient

    dapr_settings(secure.caller, "grpc")
    with DaprClient(f"127.0.0.1:{secure.caller.grpc_port}") as client:
        resp = client.invoke_method("greeter", "echo", data=b"ping", http_verb="POST")
        assert b"ping" in resp.data
        with pytest.raises(grpc.RpcError) as info:  # the SDK's invoke_method raises grpc's own error
            client.invoke_method("greeter", "fail", data=b"x", http_verb="POST")
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "access control policy has denied access" in (info.value.details() or "")


def test_access_control_on_grpc_proxying_and_no_token_across_the_hop(secure: Secure) -> None:
    # The greeter's sidecar requires DAPR_API_TOKEN on its public API; a proxied call reaches it on
    # its internal mTLS port, where the caller's certificate, not a token, is the credential.
    with grpc.insecure_channel(f"127.0.0.1:{secure.caller.grpc_port}") as channel:
        say = channel.unary_unary(
            "/test.Greeter/Say", request_serializer=_ident, response_deserializer=_ident
        )
        assert say(b"bob", metadata=(("dapr-app-id", "greeter"),), timeout=10) == b"hello bob from greeter"
        count = channel.unary_stream(
            "/test.Greeter/Count", request_serializer=_ident, response_deserializer=_ident
        )
        # A refused stream shows the refusal's own status every time: the proxy's grpcio asyncio
        # client can lose it to its write of the request (grpc/grpc#36066), and must recover it.
        # (Without the recovery one of 20 refusals or so came back INTERNAL on this machine.)
        for _ in range(40):
            with pytest.raises(grpc.RpcError) as info:
                list(count(b"3", metadata=(("dapr-app-id", "greeter"),), timeout=10))
            assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED, info.value.details()
            assert "operation: /test.Greeter/Count" in (info.value.details() or "")
    # The stranger has no policy: the greeter's global default (allow) lets Count through.
    with grpc.insecure_channel(f"127.0.0.1:{secure.stranger.grpc_port}") as channel:
        count = channel.unary_stream(
            "/test.Greeter/Count", request_serializer=_ident, response_deserializer=_ident
        )
        assert list(count(b"2", metadata=(("dapr-app-id", "greeter"),), timeout=10)) == [b"0", b"1"]
    # Proxying from the greeter's own sidecar still needs its token there (its public API).
    with grpc.insecure_channel(f"127.0.0.1:{secure.greeter.grpc_port}") as channel:
        say = channel.unary_unary(
            "/test.Greeter/Say", request_serializer=_ident, response_deserializer=_ident
        )
        with pytest.raises(grpc.RpcError) as info:
            say(b"x", metadata=(("dapr-app-id", "greeter"),), timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        got = say(b"amy", metadata=(("dapr-app-id", "greeter"), ("dapr-api-token", TOKEN)), timeout=10)
        assert got == b"hello amy from greeter"


# --- who may connect at all ----------------------------------------------------------------------------
def test_clients_without_a_right_certificate_are_refused(secure: Secure, tmp_path: Path) -> None:
    http_port, grpc_port = secure.internal_ports("orders")
    ca = secure.ca
    anchors = ca.trust_anchors_pem
    orders_name = dns_name("default", "orders")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    caller_id = SpiffeId("public", "default", "caller")

    good_chain, good_key = signed_client_cert(ca, caller_id, not_after=later)
    assert (
        tls_get(http_port, client_context(anchors, good_chain, good_key, tmp_path), orders_name) == "ok 200"
    )

    assert tls_get(http_port, None, orders_name) == "closed"  # plaintext
    assert tls_get(http_port, client_context(anchors), orders_name).startswith(
        ("closed", "failed")
    )  # no cert
    foreign = CertificateAuthority.generate("public", SpiffeId("public", "default", SENTRY_APP_ID))
    chain, key = signed_client_cert(foreign, caller_id, not_after=later)
    assert tls_get(http_port, client_context(anchors, chain, key, tmp_path), orders_name).startswith(
        ("closed", "failed")
    )
    chain, key = signed_client_cert(
        ca, caller_id, not_after=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    )
    assert tls_get(http_port, client_context(anchors, chain, key, tmp_path), orders_name).startswith(
        ("closed", "failed")
    )
    chain, key = signed_client_cert(ca, None, not_after=later)  # from the right CA, but names no workload
    assert tls_get(http_port, client_context(anchors, chain, key, tmp_path), orders_name) == "closed"
    # The other way round: a caller that means to reach "greeter" refuses the orders sidecar.
    refused = tls_get(
        http_port, client_context(anchors, good_chain, good_key, tmp_path), dns_name("default", "greeter")
    )
    assert refused.startswith("server refused: Hostname mismatch")

    # The internal gRPC port: plaintext and a foreign CA get nothing through.
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        say = channel.unary_unary(
            "/test.Greeter/Say", request_serializer=_ident, response_deserializer=_ident
        )
        with pytest.raises(grpc.RpcError) as info:
            say(b"x", metadata=(("dapr-app-id", "orders"),), timeout=3)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    chain, key = signed_client_cert(foreign, caller_id, not_after=later)
    creds = grpc.ssl_channel_credentials(anchors, key, chain)
    options = [("grpc.ssl_target_name_override", orders_name)]
    with grpc.secure_channel(f"127.0.0.1:{grpc_port}", creds, options) as channel:
        say = channel.unary_unary(
            "/test.Greeter/Say", request_serializer=_ident, response_deserializer=_ident
        )
        with pytest.raises(grpc.RpcError) as info:
            say(b"x", metadata=(("dapr-app-id", "orders"),), timeout=3)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert secure.orders.alive


# --- rotation ------------------------------------------------------------------------------------------
def test_certificates_rotate_under_load_without_a_failed_call(secure: Secure) -> None:
    renewed_before = secure.caller.log().count("certificate for spiffe://public/ns/default/caller renewed")
    failures: list[str] = []
    done = {"http": 0, "grpc": 0}
    stop = time.monotonic() + 3 * CERT_TTL * 0.7 + 1  # at least three rotations on every side

    def http_load() -> None:
        while time.monotonic() < stop:
            status, body = call(
                f"{secure.caller.url}/v1.0/invoke/orders/method/neworder",
                "POST",
                b"{}",
                {"content-type": "application/json"},
            )
            if status != 200:
                failures.append(f"http {status} {body}")
            done["http"] += 1

    def grpc_load() -> None:
        with grpc.insecure_channel(f"127.0.0.1:{secure.caller.grpc_port}") as channel:
            say = channel.unary_unary(
                "/test.Greeter/Say", request_serializer=_ident, response_deserializer=_ident
            )
            while time.monotonic() < stop:
                try:
                    say(b"r", metadata=(("dapr-app-id", "greeter"),), timeout=5)
                except grpc.RpcError as exc:
                    failures.append(f"grpc {exc.code()} {exc.details()}")
                done["grpc"] += 1

    threads = [threading.Thread(target=http_load), threading.Thread(target=grpc_load)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert failures == [], failures[:5]
    assert done["http"] > 50 and done["grpc"] > 50, done
    for sidecar in (secure.caller, secure.orders, secure.greeter):
        renewed = sidecar.log().count(f"certificate for spiffe://public/ns/default/{sidecar.app_id} renewed")
        assert renewed >= 3 if sidecar is not secure.caller else renewed - renewed_before >= 3, sidecar.app_id
        # Each renewal counted, as many as the log says (read after: a renewal may come in between).
        name = "dapr_runtime_mtls_workload_cert_rotated_total"
        assert counters(sidecar, name)[(name, (("app_id", sidecar.app_id),))] >= renewed


# --- actors over mTLS, on the local control plane ------------------------------------------------
def test_actor_calls_between_sidecars_over_mtls_with_the_control_plane(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control plane pydapr run uses (Sentry, and placement and the scheduler over mTLS): two
    actor hosts and a caller; calls cross sidecars on their internal mTLS ports, and a reminder
    comes back from the scheduler over mTLS."""
    import redis

    from pydapr.controlplane import ensure_running
    from tests.e2e.actor_mesh import redis_actor_store, start_host, wait_placement
    from tests.e2e.test_actors_http import http

    home = tmp_path / "home"
    procs = Processes(home=home, workdir=tmp_path)
    app_id = f"actors-mtls-{free_port()}"
    try:
        cp = ensure_running(home)
        assert cp.sentry_address is not None and cp.trust_anchors_file is not None
        assert cp.placement_address is not None
        monkeypatch.setenv("DAPR_TRUST_ANCHORS", cp.trust_anchors_file.read_text())
        mtls = [
            "--enable-mtls",
            "--sentry-address",
            cp.sentry_address,
            "--scheduler-host-address",
            cp.scheduler_address,
        ]
        resources = tmp_path / "resources"
        redis_actor_store(resources)
        hosts = [
            start_host(
                procs,
                name=name,
                app_id=app_id,
                script=APPS / "actor_http_app.py",
                placement=[cp.placement_address],
                resources=resources,
                actor_type="CounterActor",
                sidecar_args=mtls,
            )
            for name in ("h1", "h2")
        ]
        caller = procs.sidecar("actor-caller", args=["--placement-host-address", cp.placement_address, *mtls])
        wait_placement(caller)
        ran_on: set[str] = set()
        deadline = time.monotonic() + 30
        while ran_on != {"h1", "h2"} and time.monotonic() < deadline:
            for i in range(16):
                status, body = http(caller, "PUT", f"/v1.0/actors/CounterActor/m-{i}/method/Whoami")
                assert status == 200, body
                ran_on.add(json.loads(body))
            time.sleep(0.3)
        assert ran_on == {"h1", "h2"}  # both hosts, so calls crossed sidecars
        for host in hosts:
            assert "mTLS on (spiffe://public/ns/default/" + app_id in host.sidecar.log()
        # A reminder is a job on the scheduler, reached over mTLS.
        entry = hosts[0].sidecar
        reminder = json.dumps({"dueTime": "1h", "period": "1h", "data": "x"}).encode()
        status, body = http(entry, "PUT", "/v1.0/actors/CounterActor/m-0/reminders/r1", reminder)
        assert status == 204, body
        status, body = http(entry, "GET", "/v1.0/actors/CounterActor/m-0/reminders/r1")
        assert status == 200 and json.loads(body)["period"] == "1h", body
        assert http(entry, "DELETE", "/v1.0/actors/CounterActor/m-0/reminders/r1")[0] == 204
    finally:
        procs.stop_all()
        client = redis.Redis(host="127.0.0.1", port=6379)
        keys = list(client.scan_iter(f"{app_id}||*"))
        if keys:
            client.delete(*keys)


# --- a standalone scheduler and placement with --tls-enabled ----------------------------------------
def test_standalone_scheduler_and_placement_with_tls(secure: Secure) -> None:
    procs = secure.procs
    tls = [
        "--tls-enabled",
        "--sentry-address",
        secure.sentry_address,
        "--trust-anchors-file",
        str(secure.creds / "ca.crt"),
    ]
    sched_port, place_port = free_port(), free_port()
    db = procs.workdir / "tls-jobs.db"
    scheduler = procs.spawn(
        "tls-scheduler",
        [*_pydapr(), "scheduler", "--port", str(sched_port), "--storage", f"sqlite:///{db}", *tls],
    )
    placement = procs.spawn(
        "tls-placement",
        [
            *_pydapr(),
            "placement",
            "--port",
            str(place_port),
            "--store",
            f"sqlite://{procs.workdir}/tls-p.db",
            *tls,
        ],
    )
    wait_port(sched_port, proc=scheduler)
    wait_port(place_port, proc=placement)
    env = {"DAPR_TRUST_ANCHORS": (secure.creds / "ca.crt").read_text()}
    common = [
        "--scheduler-host-address",
        f"127.0.0.1:{sched_port}",
        "--placement-host-address",
        f"127.0.0.1:{place_port}",
    ]
    with_mtls = procs.sidecar(
        "tls-jobs", args=[*common, "--enable-mtls", "--sentry-address", secure.sentry_address], env=env
    )
    job = json.dumps({"dueTime": "1h", "data": "x"}).encode()
    headers = {"content-type": "application/json"}
    assert call(f"{with_mtls.url}/v1.0-alpha1/jobs/tls-job", "POST", job, headers)[0] == 204
    status, got = call(f"{with_mtls.url}/v1.0-alpha1/jobs/tls-job")
    assert status == 200 and got["dueTime"] == "1h", got
    deadline = time.monotonic() + 15
    while _metadata_actor_runtime(with_mtls) != "placement":
        assert time.monotonic() < deadline, with_mtls.log()
        time.sleep(0.2)
    # A sidecar without a certificate gets no connection to them.
    plain = procs.sidecar("tls-plain", args=common)
    time.sleep(3)
    assert _metadata_actor_runtime(plain) == ""
    assert _metadata_actor_runtime(with_mtls) == "placement"
    assert scheduler.alive and placement.alive


def _metadata_actor_runtime(sidecar: Sidecar) -> str:
    status, meta = call(f"{sidecar.url}/v1.0/metadata")
    runtime = meta.get("actorRuntime", {}) if status == 200 and isinstance(meta, dict) else {}
    return "placement" if runtime.get("placement", "").startswith("placement: connected") else ""
