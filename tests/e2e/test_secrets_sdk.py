"""Secrets end to end: the official SDK and plain HTTP against a real sidecar with a local file store."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import pytest
from dapr.clients import DaprClient

from tests.e2e.harness import Processes, Sidecar, free_port

pytestmark = pytest.mark.e2e

SECRET_VALUE = "s3cret-value-never-logged"

STORE = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: localsecrets
spec:
  type: secretstores.local.file
  version: v1
  metadata:
  - name: secretsFile
    value: secrets.json
"""

STATE_FROM_SECRET = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.sqlite
  version: v1
  metadata:
  - name: connectionString
    secretKeyRef:
      name: {name}
      key: {key}
auth:
  secretStore: localsecrets
"""

CONFIG = """\
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: scopes
spec:
  secrets:
    scopes:
    - storeName: localsecrets
      defaultAccess: deny
      allowedSecrets: ["db:password", "token"]
"""


def _setup(procs: Processes, *, state: str | None = None) -> Path:
    resources = procs.workdir / "resources"
    resources.mkdir(exist_ok=True)
    db_path = procs.workdir / "state.db"
    secrets = {"db": {"password": SECRET_VALUE, "user": "admin"}, "token": "tok", "sqlite": str(db_path)}
    (procs.workdir / "secrets.json").write_text(json.dumps(secrets))
    (resources / "store.yaml").write_text(STORE)
    if state is not None:
        (resources / "state.yaml").write_text(state)
    (procs.workdir / "config.yaml").write_text(CONFIG)
    return resources


def _get(sidecar: Sidecar, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(sidecar.url + path, timeout=5) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_sdk_reads_secrets_and_scopes_apply(procs: Processes, dapr_settings: Any) -> None:
    resources = _setup(procs, state=STATE_FROM_SECRET.format(name="sqlite", key="sqlite"))
    sidecar = procs.sidecar("secrets-app", resources=resources, config=procs.workdir / "config.yaml")
    dapr_settings(sidecar)
    with DaprClient() as client:
        assert client.get_secret("localsecrets", "db:password").secret == {"db:password": SECRET_VALUE}
        assert client.get_secret("localsecrets", "token").secret == {"token": "tok"}
        bulk = client.get_bulk_secret("localsecrets").secrets
        # Scopes filter the bulk answer: only the allowed names are there.
        assert bulk == {"db:password": {"db:password": SECRET_VALUE}, "token": {"token": "tok"}}
        with pytest.raises(grpc.RpcError) as denied:
            client.get_secret("localsecrets", "db:user")
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
        with pytest.raises(grpc.RpcError) as unknown:
            client.get_secret("nostore", "token")
        assert unknown.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
        assert "failed finding secret store with key nostore" in unknown.value.details()  # type: ignore[attr-defined]
        # The state store's connection string came from the secret store.
        client.save_state("statestore", "k", "v")
        assert client.get_state("statestore", "k").data == b"v"

    assert _get(sidecar, "/v1.0/secrets/localsecrets/token") == (200, {"token": "tok"})
    assert _get(sidecar, "/v1.0/secrets/localsecrets/token?metadata.version=2") == (200, {"token": "tok"})
    assert _get(sidecar, "/v1.0/secrets/localsecrets/db:user") == (
        403,
        {
            "errorCode": "ERR_PERMISSION_DENIED",
            "message": 'access denied by policy to get "db:user" from "localsecrets"',
        },
    )
    status, body = _get(sidecar, "/v1.0/secrets/nostore/token")
    assert (status, body["errorCode"]) == (401, "ERR_SECRET_STORE_NOT_FOUND")
    status, body = _get(sidecar, "/v1.0/secrets/localsecrets/bulk")
    assert status == 200 and set(body) == {"db:password", "token"}
    status, meta = _get(sidecar, "/v1.0/metadata")
    assert status == 200
    sidecar.stop()
    assert SECRET_VALUE not in json.dumps(meta)
    assert SECRET_VALUE not in sidecar.log()


def test_no_secret_store_is_not_configured(procs: Processes) -> None:
    sidecar = procs.sidecar("nosecrets", resources=procs.workdir)
    status, body = _get(sidecar, "/v1.0/secrets/any/key")
    assert (status, body["errorCode"]) == (500, "ERR_SECRET_STORES_NOT_CONFIGURED")


@pytest.mark.parametrize(
    ("name", "key", "named"), [("db:password", "nokey", "nokey"), ("nosecret", "k", "nosecret")]
)
def test_missing_secret_stops_startup_naming_store_and_key(
    procs: Processes, name: str, key: str, named: str
) -> None:
    resources = _setup(procs, state=STATE_FROM_SECRET.format(name=name, key=key))
    argv = [
        sys.executable,
        "-m",
        "pydapr",
        "sidecar",
        "--app-id",
        "broken",
        "--resources-path",
        str(resources),
    ]
    argv += ["--dapr-http-port", str(free_port()), "--dapr-grpc-port", str(free_port())]
    argv += ["--metrics-port", str(free_port())]
    out = subprocess.run(
        argv, check=False, env=procs.env(), capture_output=True, text=True, timeout=30, cwd=procs.workdir
    )
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "localsecrets" in text and named in text
    assert SECRET_VALUE not in text
