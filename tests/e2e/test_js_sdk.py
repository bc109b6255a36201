"""The official JavaScript SDK (``@dapr/dapr``, pinned in tests/e2e/js/package.json) against pydapr.

Two ``DaprServer`` apps run under ``pydapr run -- node server.js``, one serving the sidecar over
HTTP and one over gRPC; a third ``pydapr run`` is a sidecar without an app, used by ``DaprClient``
scenarios (tests/e2e/js/client.js) over HTTP and over gRPC. Components are backed by the local Redis
(state, pub/sub, configuration, lock) and Mosquitto (MQTT bindings), plus localstorage, cron and a
local secrets file. Each scenario prints what the JS user sees; the tests assert on it, and on what
the server apps recorded of each delivery. Names are unique to the run; the sidecars are shared by
the module.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.e2e.harness import Processes, Sidecar, free_port, records

pytestmark = pytest.mark.e2e

JS_DIR = Path(__file__).parent / "js"
ROOT = Path(__file__).parents[2]
RUN = "js" + uuid.uuid4().hex[:8]
HTTP_APP, GRPC_APP, CLIENT = f"jsapp-http-{RUN}", f"jsapp-grpc-{RUN}", f"jsclient-{RUN}"
TOPICS = {name: f"{RUN}-{name}" for name in ("plain", "routed", "bulk", "raw", "answers", "dead")}
CONFIG_KEYS = {name: f"{RUN}-cfg-{name}" for name in ("color", "size", "missing")}
PROTOCOLS = ["http", "grpc"]
UP = "You're up and running!"

COMPONENTS = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.redis
  version: v1
  metadata:
  - name: redisHost
    value: 127.0.0.1:6379
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: querystore
spec:
  type: state.sqlite
  version: v1
  metadata:
  - name: connectionString
    value: {query_db}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub
spec:
  type: pubsub.redis
  version: v1
  metadata:
  - name: redisHost
    value: 127.0.0.1:6379
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: files
spec:
  type: bindings.localstorage
  version: v1
  metadata:
  - name: rootPath
    value: {files}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: mqtt-out
spec:
  type: bindings.mqtt3
  version: v1
  metadata:
  - name: url
    value: tcp://127.0.0.1:1883
  - name: topic
    value: {mqtt_topic}
  - name: consumerID
    value: "{{uuid}}"
scopes:
- {client}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: mqtt-in
spec:
  type: bindings.mqtt3
  version: v1
  metadata:
  - name: url
    value: tcp://127.0.0.1:1883
  - name: topic
    value: {mqtt_topic}
  - name: consumerID
    value: "{{uuid}}"
  - name: cleanSession
    value: "true"
scopes:
- {http_app}
- {grpc_app}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: cron
spec:
  type: bindings.cron
  version: v1
  metadata:
  - name: schedule
    value: "@every 1s"
scopes:
- {http_app}
- {grpc_app}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: localsecrets
spec:
  type: secretstores.local.file
  version: v1
  metadata:
  - name: secretsFile
    value: {secrets}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: configstore
spec:
  type: configuration.redis
  version: v1
  metadata:
  - name: redisHost
    value: 127.0.0.1:6379
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: lockstore
spec:
  type: lock.redis
  version: v1
  metadata:
  - name: redisHost
    value: 127.0.0.1:6379
"""

SECRETS = {"db-password": "s3cr3t", "nested": {"user": "js-user"}}


def _node() -> str:
    node = shutil.which("node")
    assert node is not None, "node (20+) must be on PATH for the JavaScript SDK tests"
    return node


def _ensure_sdk() -> None:
    """Installs the pinned SDK (scripts/js-sdk.sh, quick when it is there already)."""
    subprocess.run(["bash", str(ROOT / "scripts" / "js-sdk.sh")], check=True, timeout=300)


@dataclass
class Mesh:
    procs: Processes
    client: Sidecar  # a plain `pydapr run` sidecar: what the DaprClient scenarios talk to
    servers: dict[str, Sidecar]  # the runs of the DaprServer apps, by protocol
    record: Path
    resources: Path

    def seen(self, kind: str | None = None, app: str | None = None) -> list[dict[str, Any]]:
        out = records(self.record)
        return [r for r in out if (kind is None or r["kind"] == kind) and (app is None or r["app"] == app)]

    def wait_seen(
        self, predicate: Callable[[list[dict[str, Any]]], bool], kind: str | None, timeout: float = 15.0
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            records = self.seen(kind)
            if predicate(records) or time.monotonic() > deadline:
                return records
            time.sleep(0.1)

    def js(
        self,
        scenario: str,
        protocol: str,
        config: dict[str, Any] | None = None,
        sidecar: Sidecar | None = None,
    ) -> dict[str, Any]:
        """Runs one client.js scenario against a sidecar (the client's unless told); returns what it
        printed."""
        sidecar = sidecar or self.client
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DAPR_", "APP_"))}
        env.update(
            DAPR_HTTP_PORT=str(sidecar.http_port),
            DAPR_GRPC_PORT=str(sidecar.grpc_port),
            JS_CONFIG=json.dumps(config or {}),
        )
        out = subprocess.run(
            [_node(), str(JS_DIR / "client.js"), scenario, protocol],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        for line in out.stdout.splitlines():
            if line.startswith("RESULT "):
                return dict(json.loads(line[len("RESULT ") :]))
        raise AssertionError(
            f"client.js {scenario} {protocol} printed no result:\n{out.stdout}\n{out.stderr}"
        )


def _pydapr_run(
    procs: Processes, app_id: str, args: list[str], command: list[str], env: dict[str, str]
) -> Sidecar:
    """Starts ``pydapr run`` (in its own process group, stopped by ``procs.stop_all``)."""
    http_port, grpc_port = free_port(), free_port()
    argv = [
        sys.executable,
        "-m",
        "pydapr",
        "run",
        "--app-id",
        app_id,
        "-H",
        str(http_port),
        "-G",
        str(grpc_port),
    ]
    argv += ["-M", str(free_port()), *args]
    if command:
        argv += ["--", *command]
    base = procs.spawn(f"run-{app_id}", argv, env)
    procs.procs.pop()
    sidecar = Sidecar(base.name, base.popen, base.log_path, app_id, http_port, grpc_port)
    procs.procs.append(sidecar)
    return sidecar


def _wait_line(proc: Sidecar, text: str, timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in proc.log():
            return
        if not proc.alive:
            break
        time.sleep(0.05)
    raise AssertionError(f"{proc.name}: {text!r} not printed:\n{proc.log()}")


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    _ensure_sdk()
    workdir = tmp_path_factory.mktemp("js-sdk")
    home = workdir / "home"
    home.mkdir()
    files = workdir / "files"
    files.mkdir()
    secrets = workdir / "secrets.json"
    secrets.write_text(json.dumps(SECRETS))
    resources = workdir / "resources"
    resources.mkdir()
    (resources / "components.yaml").write_text(
        COMPONENTS.format(
            files=files,
            query_db=workdir / "query.db",
            secrets=secrets,
            mqtt_topic=f"{RUN}/mqtt",
            client=CLIENT,
            http_app=HTTP_APP,
            grpc_app=GRPC_APP,
        )
    )
    record = workdir / "record.jsonl"
    app_env = {"RECORD": str(record), "JS_TOPICS": json.dumps(TOPICS)}
    procs = Processes(home=home, workdir=workdir)
    try:
        servers = [
            _pydapr_run(
                procs,
                app_id,
                [
                    "--app-port",
                    str(free_port()),
                    "--app-protocol",
                    protocol,
                    "--resources-path",
                    str(resources),
                ],
                [_node(), str(JS_DIR / "server.js")],
                app_env,
            )
            for app_id, protocol in ((HTTP_APP, "http"), (GRPC_APP, "grpc"))
        ]
        client = _pydapr_run(procs, CLIENT, ["--resources-path", str(resources)], [], {})
        for run in (*servers, client):
            _wait_line(run, UP)
        for server in servers:
            _wait_line(server, "JS SERVER READY")
            procs.wait_healthy(server)  # healthy = subscriptions and input bindings are running
        yield Mesh(procs, client, dict(zip(PROTOCOLS, servers, strict=True)), record, resources)
    finally:
        for proc in procs.procs:  # all runs stop at once; stop_all then waits for each
            proc.signal(signal.SIGTERM)
        procs.stop_all()
        r = redis.Redis(host="127.0.0.1", port=6379)
        for key in r.scan_iter(match=f"*{RUN}*"):
            r.delete(key)
        r.close()


def ok(result: dict[str, Any]) -> Any:
    """The value a call returned; fails with the SDK's error when it raised."""
    assert "ok" in result, f"the call failed: {result}"
    return result["ok"]


def err(result: dict[str, Any]) -> dict[str, Any]:
    """The error a call raised (or returned, as the HTTP client does for save/delete/publish)."""
    assert "err" in result, f"the call succeeded: {result}"
    return dict(result["err"])


def assert_http_error(error: dict[str, Any], status: int, code: str, text: str = "") -> None:
    assert error["status"] == status, error
    assert error["body"]["errorCode"] == code, error
    assert text in error["body"]["message"], error


def assert_grpc_error(error: dict[str, Any], code: str, text: str = "") -> None:
    assert error["name"] == "ConnectError", error
    assert error["code"] == code, error
    assert text in error["rawMessage"], error


# --- service invocation ---------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_invoke_reaches_http_and_grpc_apps_with_verbs_and_bodies(mesh: Mesh, protocol: str) -> None:
    out = mesh.js("invoke", protocol, {"apps": [HTTP_APP, GRPC_APP], "unknownApp": f"nobody-{RUN}"})
    for app, app_protocol in ((HTTP_APP, "http"), (GRPC_APP, "grpc")):
        calls = out[app]
        for verb, sent in (("post", {"hello": "js", "n": 1}), ("put", {"n": 2}), ("patch", {"n": 3})):
            echo = ok(calls[verb])
            assert (echo["app"], echo["protocol"], echo["verb"]) == (app, app_protocol, verb)
            assert json.loads(echo["body"]) == sent
            assert echo["contentType"] == "application/json"
        for verb in ("get", "delete"):
            echo = ok(calls[verb])
            assert (echo["app"], echo["verb"]) == (app, verb)
        text = ok(calls["text"])
        assert text["contentType"] == "text/plain"
        # The HTTP server hands the handler JSON.stringify(body); the gRPC server the raw bytes.
        assert text["body"] == ('"plain words"' if app_protocol == "http" else "plain words")

    # A method the app does not serve: express answers 404; the JS gRPC server answers an empty
    # reply, which the HTTP client returns as "" and the gRPC client cannot parse.
    if protocol == "http":
        assert err(out[HTTP_APP]["missing"])["status"] == 404
        assert ok(out[GRPC_APP]["missing"]) == ""
        query = ok(out[HTTP_APP]["query"])
        assert query["query"] == "/echo?color=blue&size=2"
        assert query["header"] == "from-js"
        assert ok(out[GRPC_APP]["query"])["query"] == "color=blue&size=2"
        assert_http_error(
            err(out["unknownApp"]), 500, "ERR_DIRECT_INVOKE", f"couldn't find service: nobody-{RUN}"
        )
    else:
        assert_grpc_error(err(out[HTTP_APP]["missing"]), "NotFound")
        assert err(out[GRPC_APP]["missing"])["error"] == "COULD_NOT_PARSE_RESULT"
        assert_grpc_error(err(out["unknownApp"]), "Internal", f"couldn't find service: nobody-{RUN}")


# --- state ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_state_save_get_bulk_etag_delete_transaction_ttl(mesh: Mesh, protocol: str) -> None:
    prefix = f"{RUN}-{protocol}"
    out = mesh.js("state", protocol, {"prefix": prefix})
    k = {name: f"{prefix}-{name}" for name in ("a", "b", "c", "missing")}
    assert ok(out["save"]) == {}
    assert ok(out["getA"]) == {"name": "js", "n": 1}
    assert ok(out["getB"]) == "plain text"
    assert ok(out["getMissing"]) == ""

    bulk = {item["key"]: item for item in ok(out["bulk"])}
    assert bulk.keys() == {k["a"], k["b"], k["missing"]}
    assert bulk[k["a"]]["data"] == {"name": "js", "n": 1}
    assert bulk[k["b"]]["data"] == "plain text"
    assert bulk[k["a"]]["etag"] and out["etagA"] == bulk[k["a"]]["etag"]
    # Daprd's HTTP answer omits data and etag of a missing key; the gRPC client fills in "".
    missing = {"key": k["missing"]} if protocol == "http" else {"key": k["missing"], "data": "", "etag": ""}
    assert bulk[k["missing"]] == missing

    if protocol == "http":
        assert_http_error(err(out["saveWrongEtag"]), 409, "ERR_STATE_SAVE", "possible etag mismatch")
        assert_http_error(err(out["deleteWrongEtag"]), 409, "ERR_STATE_DELETE", "possible etag mismatch")
        assert_http_error(err(out["unknownStore"]), 400, "ERR_STATE_STORE_NOT_FOUND", "no-such-store")
    else:
        assert_grpc_error(err(out["saveWrongEtag"]), "Aborted", "possible etag mismatch")
        assert_grpc_error(err(out["deleteWrongEtag"]), "Aborted", "possible etag mismatch")
        assert_grpc_error(err(out["unknownStore"]), "InvalidArgument", "no-such-store")
    assert ok(out["afterWrongEtag"]) == {"name": "js", "n": 1}
    assert ok(out["saveRightEtag"]) == {}
    assert ok(out["afterRightEtag"]) == {"n": 3}

    assert ok(out["deleteB"]) == {}
    assert ok(out["afterDeleteB"]) == ""
    assert ok(out["transaction"]) is None
    assert ok(out["afterTransaction"]["a"]) == ""
    assert ok(out["afterTransaction"]["c"]) == "from-transaction"

    assert ok(out["saveLarge"]) == {}
    assert ok(out["large"]) == {"length": 3 * 1024 * 1024, "same": True}

    assert ok(out["saveTtl"]) == {}
    assert ok(out["ttlBefore"]) == "short-lived"
    assert ok(out["ttlAfter"]) == ""


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_state_query_on_sqlite(mesh: Mesh, protocol: str) -> None:
    prefix = f"{RUN}-q{protocol}"
    out = mesh.js("query", protocol, {"prefix": prefix})
    assert ok(out["save"]) == {}
    paris = ok(out["paris"])
    assert [r["key"] for r in paris["results"]] == [f"{prefix}-p2", f"{prefix}-p3", f"{prefix}-p1"]
    assert paris["results"][0]["data"] == {"city": "Paris", "n": 3, "run": prefix}
    assert all(r["etag"] for r in paris["results"])
    first, second = ok(out["firstPage"]), ok(out["secondPage"])
    assert [r["data"]["n"] for r in first["results"]] == [1, 2] and first["token"]
    assert [r["data"]["n"] for r in second["results"]] == [3, 5]
    # daprd answers a query it cannot parse as any failed query: 500 / Internal.
    if protocol == "http":
        assert_http_error(err(out["badQuery"]), 500, "ERR_STATE_QUERY", "state store querystore query failed")
    else:
        assert_grpc_error(err(out["badQuery"]), "Internal", "state store querystore query failed")


# --- pub/sub --------------------------------------------------------------------------------------


def _ids(records: list[dict[str, Any]], app: str) -> list[Any]:
    return [
        r["data"].get("id") if isinstance(r["data"], dict) else r["data"] for r in records if r["app"] == app
    ]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_publish_reaches_http_and_grpc_subscribers(mesh: Mesh, protocol: str) -> None:
    out = mesh.js("pubsub", protocol, {"topics": TOPICS})
    for name in ("json", "text", "cloudEvent", "raw", "gift", "other", "typed"):
        assert ok(out[name]) == {}, name
    assert ok(out["bulk"]) == {"failedMessages": []}
    if protocol == "http":
        assert_http_error(err(out["unknownPubsub"]), 404, "ERR_PUBSUB_NOT_FOUND", "no-such-pubsub")
    else:
        assert_grpc_error(err(out["unknownPubsub"]), "InvalidArgument", "no-such-pubsub")

    p = protocol
    single = {
        (TOPICS["plain"], "default"): [f"{p}-json", f"text {p}-text", f"{p}-ce"],
        (TOPICS["raw"], "default"): [f"{p}-raw"],
        (TOPICS["routed"], "gifts"): [f"{p}-gift"],
        (TOPICS["routed"], "others"): [f"{p}-other"],
        (TOPICS["routed"], "big"): [f"{p}-typed"],  # event.type set by cloudevent.type metadata
    }
    bulk = sorted([*(f"{p}-bulk-{n}" for n in (1, 2, 3)), f"bulk text {p}-bulk-4"])
    mine = {i for ids in single.values() for i in ids} | set(bulk)

    def arrived(records: list[dict[str, Any]]) -> bool:
        return all(mine <= set(_ids(records, app)) for app in (HTTP_APP, GRPC_APP))

    records = [r for r in mesh.wait_seen(arrived, None) if r["kind"] in ("event", "bulk") and _mine(r, mine)]
    events = [r for r in records if r["kind"] == "event"]
    bulk_events = [r for r in records if r["kind"] == "bulk"]
    for app in (HTTP_APP, GRPC_APP):
        for (topic, route), ids in single.items():
            got = [r for r in events if r["app"] == app and r["topic"] == topic and r["route"] == route]
            assert sorted(_ids(got, app)) == sorted(ids), (app, topic, route, got)
        assert sorted(_ids(bulk_events, app)) == bulk, (app, bulk_events)
    # Data arrives as the publisher sent it: objects stay objects, the CloudEvent's data is unwrapped.
    ce = next(r for r in events if r["app"] == HTTP_APP and _ids([r], HTTP_APP) == [f"{p}-ce"])
    assert ce["data"] == {"id": f"{p}-ce", "kind": "custom"}
    http_events = [r for r in events if r["app"] == HTTP_APP]
    assert {r["contentType"] for r in http_events} == {"application/cloudevents+json"}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_subscriber_answers_retry_and_drop_to_dead_letter_topic(mesh: Mesh, protocol: str) -> None:
    out = mesh.js("answers", protocol, {"topics": TOPICS})
    assert out == {answer: {"ok": {}} for answer in ("retry-once", "drop", "success")}
    p = protocol
    ids = {f"{p}-retry-once", f"{p}-drop", f"{p}-success"}

    def settled(records: list[dict[str, Any]]) -> bool:
        dead = {(r["app"], r["data"]["id"]) for r in records if r["kind"] == "dead" and _mine(r, ids)}
        return dead == {(HTTP_APP, f"{p}-drop"), (GRPC_APP, f"{p}-drop")} and all(
            len(
                [
                    r
                    for r in records
                    if r["kind"] == "answer" and r["app"] == app and _mine(r, {f"{p}-retry-once"})
                ]
            )
            >= 2
            for app in (HTTP_APP, GRPC_APP)
        )

    records = [r for r in mesh.wait_seen(settled, None) if _mine(r, ids)]
    for app, app_protocol in ((HTTP_APP, "http"), (GRPC_APP, "grpc")):
        attempts = {
            i: sorted(
                r["attempt"] for r in records if r["kind"] == "answer" and r["app"] == app and _mine(r, {i})
            )
            for i in ids
        }
        # RETRY brings the event back once; DROP and SUCCESS end it at the first delivery.
        assert attempts == {f"{p}-retry-once": [1, 2], f"{p}-drop": [1], f"{p}-success": [1]}, app
        dead = [r for r in records if r["kind"] == "dead" and r["app"] == app]
        assert [r["data"] for r in dead] == [{"id": f"{p}-drop", "answer": "drop"}], app
        assert dead[0]["topic"] == f"{TOPICS['dead']}-{app_protocol}"


def _mine(record: dict[str, Any], ids: set[str]) -> bool:
    data = record["data"]
    return (data.get("id") if isinstance(data, dict) else data) in ids


# --- bindings -------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_output_bindings_localstorage_and_mqtt_to_input_bindings(mesh: Mesh, protocol: str) -> None:
    prefix = f"{RUN}-{protocol}"
    out = mesh.js("binding", protocol, {"prefix": prefix})
    file = f"{prefix}.json"

    def data(result: dict[str, Any]) -> Any:
        # The HTTP client returns the parsed body; the gRPC client {data, metadata, operation}.
        value = ok(result)
        return value if protocol == "http" else value["data"]

    assert data(out["create"]) == {"fileName": file}
    assert data(out["get"]) == {"hello": "file", "via": protocol}
    assert file in data(out["list"])
    assert data(out["delete"]) == ""
    assert data(out["mqtt"]) == ""
    if protocol == "http":
        assert_http_error(err(out["getDeleted"]), 500, "ERR_INVOKE_OUTPUT_BINDING", "file not found")
        assert_http_error(err(out["unknownBinding"]), 500, "ERR_INVOKE_OUTPUT_BINDING", "no-such-binding")
    else:
        assert_grpc_error(err(out["getDeleted"]), "Internal", "file not found")
        assert_grpc_error(err(out["unknownBinding"]), "Internal", "no-such-binding")

    # The MQTT message reaches both apps' input binding with its data.
    sent = {"id": f"{protocol}-mqtt"}
    records = mesh.wait_seen(
        lambda rs: {r["app"] for r in rs if r["data"] == sent} == {HTTP_APP, GRPC_APP}, "mqtt"
    )
    assert sorted(r["app"] for r in records if r["data"] == sent) == sorted([HTTP_APP, GRPC_APP])


def test_cron_input_binding_fires_in_http_and_grpc_apps(mesh: Mesh) -> None:
    records = mesh.wait_seen(lambda rs: {r["app"] for r in rs} == {HTTP_APP, GRPC_APP}, "cron")
    assert {r["app"] for r in records} == {HTTP_APP, GRPC_APP}


# --- secrets --------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_secrets_from_local_file(mesh: Mesh, protocol: str) -> None:
    out = mesh.js("secret", protocol)
    assert ok(out["get"]) == {"db-password": "s3cr3t"}
    assert ok(out["nested"]) == {"nested:user": "js-user"}
    assert ok(out["bulk"]) == {
        "db-password": {"db-password": "s3cr3t"},
        "nested:user": {"nested:user": "js-user"},
    }
    if protocol == "http":
        assert_http_error(err(out["missing"]), 500, "ERR_SECRET_GET", "no-such-secret")
        assert_http_error(err(out["unknownStore"]), 401, "ERR_SECRET_STORE_NOT_FOUND", "no-such-store")
    else:
        assert_grpc_error(err(out["missing"]), "Internal", "no-such-secret")
        assert_grpc_error(err(out["unknownStore"]), "InvalidArgument", "no-such-store")


# --- configuration --------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_configuration_get_and_subscribe(mesh: Mesh, protocol: str) -> None:
    r = redis.Redis(host="127.0.0.1", port=6379)
    r.set(CONFIG_KEYS["color"], "blue||1")
    r.set(CONFIG_KEYS["size"], "10||2")
    r.close()
    out = mesh.js("configuration", protocol, {"keys": CONFIG_KEYS})
    if protocol == "http":
        # @dapr/dapr implements configuration over gRPC only; nothing reaches the sidecar.
        assert err(out["get"])["name"] == "HTTPNotSupportedError"
        return
    color, size = CONFIG_KEYS["color"], CONFIG_KEYS["size"]
    assert ok(out["get"]) == {
        "items": {
            color: {"key": color, "value": "blue", "version": "1", "metadata": {}},
            size: {"key": size, "value": "10", "version": "2", "metadata": {}},
        }
    }
    assert ok(out["getMissing"]) == {"items": {}}
    update = out["update"]["items"][color]
    assert update["key"] == color and update["value"] == "red" and int(update["version"]) >= 10
    assert_grpc_error(err(out["unknownStore"]), "InvalidArgument", "no-such-store")


# --- distributed lock -----------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_lock_try_lock_and_unlock(mesh: Mesh, protocol: str) -> None:
    out = mesh.js("lock", protocol, {"prefix": f"{RUN}-{protocol}"})
    # LockStatus: 0 Success, 1 LockDoesNotExist, 2 LockBelongsToOthers.
    assert ok(out["lockA"]) == {"success": True}
    assert ok(out["lockB"]) == {"success": False}
    assert ok(out["unlockB"]) == {"status": 2}
    assert ok(out["unlockA"]) == {"status": 0}
    assert ok(out["unlockAgain"]) == {"status": 1}
    assert ok(out["relockB"]) == {"success": True}
    assert ok(out["unlockRelocked"]) == {"status": 0}
    if protocol == "http":
        assert_http_error(
            err(out["unknownStore"]), 404, "ERR_LOCK_NOT_FOUND", "lock no-such-store is not found"
        )
    else:
        assert_grpc_error(err(out["unknownStore"]), "InvalidArgument", "lock no-such-store is not found")


# --- metadata and health --------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_metadata_and_health(mesh: Mesh, protocol: str) -> None:
    out = mesh.js("metadata", protocol)
    assert out["healthy"] is True
    assert ok(out["set"]) is True
    meta = ok(out["get"])
    assert meta["id"] == CLIENT
    assert meta["extended"]["js-e2e"] == f"set-over-{protocol}"
    components = {c["name"]: c for c in meta["components"]}
    # Scoped to the server apps: not loaded here.
    assert "mqtt-in" not in components and "cron" not in components
    assert components["statestore"]["type"] == "state.redis"
    assert {"ETAG", "TRANSACTIONAL", "TTL"} <= set(components["statestore"]["capabilities"])
    assert components["lockstore"]["type"] == "lock.redis"


# --- a JS app under `pydapr run` ------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_pydapr_run_node_client_app(mesh: Mesh, protocol: str, tmp_path: Path) -> None:
    """`pydapr run -- node client.js`: the SDK finds its sidecar from the variables the runner sets,
    and the run ends with the app."""
    app_id = f"jsrun-{protocol}-{RUN}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAPR_", "APP_"))}
    env.update(
        PYDAPR_HOME=str(mesh.procs.home),
        PYTHONUNBUFFERED="1",
        JS_CONFIG=json.dumps({"prefix": app_id}),
        DAPR_API_TOKEN=f"token-{RUN}",  # reaches the sidecar and the app; the SDK sends it
    )
    argv = [
        sys.executable,
        "-m",
        "pydapr",
        "run",
        "--app-id",
        app_id,
        "--resources-path",
        str(mesh.resources),
    ]
    argv += ["--", _node(), str(JS_DIR / "client.js"), "smoke", protocol]
    run = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    result = next(line for line in run.stdout.splitlines() if line.startswith("RESULT "))
    seen = json.loads(result[len("RESULT ") :])
    assert (seen["appId"], seen["value"]) == (app_id, {"from": app_id})
    if protocol == "http":
        assert err(seen["wrongToken"])["status"] == 401
    else:
        assert err(seen["wrongToken"])["code"] == "Unauthenticated"
    assert "Exited App successfully" in run.stdout


def test_metadata_of_a_server_app_lists_its_subscriptions_and_app_connection(mesh: Mesh) -> None:
    """The HTTP client returns daprd's metadata JSON as is (the gRPC client keeps only id,
    actors, extended and components)."""
    for app_protocol, sidecar in mesh.servers.items():
        meta = ok(mesh.js("metadata", "http", sidecar=sidecar)["get"])
        assert meta["id"] == sidecar.app_id
        assert {"cron", "mqtt-in"} <= {c["name"] for c in meta["components"]}
        connection = meta["appConnectionProperties"]
        assert connection["protocol"] == app_protocol and connection["channelAddress"] == "127.0.0.1"
        assert isinstance(connection["port"], int) and connection["port"] > 0
        subs = {s["topic"]: s for s in meta["subscriptions"]}
        dead = f"{TOPICS['dead']}-{app_protocol}"
        assert subs.keys() == {*(TOPICS[t] for t in ("plain", "routed", "bulk", "raw", "answers")), dead}
        assert {s["type"] for s in subs.values()} == {"PROGRAMMATIC"}
        assert subs[TOPICS["answers"]]["deadLetterTopic"] == dead
        assert subs[TOPICS["raw"]]["metadata"] == {"rawPayload": "true"}
        routed = subs[TOPICS["routed"]]["rules"]
        assert [r.get("match") for r in routed[:2]] == ['event.type == "js.big"', 'event.data.kind == "gift"']
        assert routed[0]["path"].endswith("--big") and routed[1]["path"].endswith("--gifts")
        # The default route is the last rule, without a match (daprd omits empty fields).
        assert routed[-1].keys() == {"path"} and routed[-1]["path"].endswith("--others")
