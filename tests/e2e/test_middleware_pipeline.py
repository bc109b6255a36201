"""Middleware components in a Configuration's httpPipeline and appHttpPipeline, through real sidecars."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import APPS
from tests.e2e.harness import Processes, Sidecar, free_port, http_status, wait_port
from tests.e2e.test_invoke import as_json, call

pytestmark = pytest.mark.e2e

APP = APPS / "middleware_app.py"
STORE = """
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: store
spec:
  type: state.in-memory
  version: v1
"""
LIMIT_REACHED = b"You have reached maximum request limit."


def _component(name: str, kind: str, **metadata: str) -> str:
    items = "".join(f"  - name: {k}\n    value: {json.dumps(v)}\n" for k, v in metadata.items())
    return (
        f"apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\n"
        f"spec:\n  type: middleware.http.{kind}\n  version: v1\n" + (f"  metadata:\n{items}" if items else "")
    )


def _setup(
    tmp_path: Path,
    components: dict[str, str],
    server: Sequence[tuple[str, str]],
    app: Sequence[tuple[str, str]] = (),
) -> tuple[Path, Path]:
    """Writes the resources folder (the in-memory store ``store`` plus ``components``) and the config."""
    resources = tmp_path / "resources"
    resources.mkdir()
    (resources / "store.yaml").write_text(STORE)
    for name, doc in components.items():
        (resources / f"{name}.yaml").write_text(doc)
    config = tmp_path / "config.yaml"
    spec = ""
    for section, handlers in (("httpPipeline", server), ("appHttpPipeline", app)):
        if handlers:
            spec += f"  {section}:\n    handlers:\n" + "".join(
                f"    - name: {name}\n      type: {kind}\n" for name, kind in handlers
            )
    config.write_text(
        f"apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: mw\nspec:\n{spec}"
    )
    return resources, config


def _with_app(procs: Processes, app_id: str, resources: Path, config: Path) -> Sidecar:
    app_port = free_port()
    sidecar = procs.sidecar(app_id, app_port=app_port, resources=resources, config=config)
    app = procs.app(app_id, APP, env={"APP_PORT": str(app_port)})
    wait_port(app_port, proc=app)
    procs.wait_healthy(sidecar)
    return sidecar


# --- httpPipeline -----------------------------------------------------------------------------------
def test_uppercase_changes_the_body_the_state_api_saves(procs: Processes, tmp_path: Path) -> None:
    resources, config = _setup(
        tmp_path, {"up": _component("up", "uppercase")}, [("up", "middleware.http.uppercase")]
    )
    sidecar = procs.sidecar("upper", resources=resources, config=config)
    body = json.dumps([{"key": "greeting", "value": "hello, world"}]).encode()
    status, _, answer = call(
        f"{sidecar.url}/v1.0/state/store", "POST", body, {"content-type": "application/json"}
    )
    assert status == 204, answer
    # The API decoded [{"KEY": "GREETING", "VALUE": "HELLO, WORLD"}] (field names match in any case).
    assert call(f"{sidecar.url}/v1.0/state/store/greeting")[0] == 204  # nothing under the lower-case key
    status, _, saved = call(f"{sidecar.url}/v1.0/state/store/GREETING")
    assert (status, as_json(saved)) == (200, "HELLO, WORLD")


def test_ratelimit_answers_a_burst_with_429_as_written(procs: Processes, tmp_path: Path) -> None:
    resources, config = _setup(
        tmp_path,
        {"limit": _component("limit", "ratelimit", maxRequestsPerSecond="1")},
        [("limit", "middleware.http.ratelimit")],
    )
    sidecar = procs.sidecar("limited", resources=resources, config=config)
    answers = [call(f"{sidecar.url}/v1.0/metadata") for _ in range(4)]
    assert answers[0][0] == 200
    assert answers[0][1]["x-rate-limit-limit"] == "1.00"
    refused = answers[1:]
    assert [status for status, _, _ in refused] == [429, 429, 429]
    _, headers, body = refused[0]
    assert body == LIMIT_REACHED  # the middleware's own answer, not Dapr's JSON error
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert headers["ratelimit-remaining"] == "0"
    # One bucket per path: another path still has its token; the refill lets the first one through.
    assert call(f"{sidecar.url}/v1.0/state/store/nothing")[0] == 204
    time.sleep(1.1)
    assert call(f"{sidecar.url}/v1.0/metadata")[0] == 200
    assert sidecar.alive


def test_routeralias_paths_reach_invoke_and_state(procs: Processes, tmp_path: Path) -> None:
    routes = json.dumps(
        {
            "/shop/info": "/v1.0/invoke/aliased/method/shop/info",
            "/shop/item/{id}": "/v1.0/invoke/aliased/method/shop/item",
            "/greeting": "/v1.0/state/store/greeting",
        }
    )
    resources, config = _setup(
        tmp_path,
        {"alias": _component("alias", "routeralias", routes=routes)},
        [("alias", "middleware.http.routeralias")],
    )
    sidecar = _with_app(procs, "aliased", resources, config)
    status, _, body = call(f"{sidecar.url}/shop/info?id=123")
    assert status == 200, body
    seen = as_json(body)
    assert (seen["method"], seen["path"], seen["query"]) == ("GET", "/shop/info", "id=123")
    status, _, body = call(f"{sidecar.url}/shop/item/42?z=1", "POST", b"x")
    assert status == 200, body
    assert (as_json(body)["path"], as_json(body)["query"]) == ("/shop/item", "id=42&z=1")
    save = json.dumps([{"key": "greeting", "value": "hi"}]).encode()
    assert (
        call(f"{sidecar.url}/v1.0/state/store", "POST", save, {"content-type": "application/json"})[0] == 204
    )
    status, _, body = call(f"{sidecar.url}/greeting")
    assert (status, as_json(body)) == (200, "hi")
    # A path no template matches goes on unchanged.
    status, _, body = call(f"{sidecar.url}/nowhere")
    assert status == 404 and "errorCode" in as_json(body)


def test_routerchecker_refuses_forbidden_characters(procs: Processes, tmp_path: Path) -> None:
    resources, config = _setup(
        tmp_path,
        {"check": _component("check", "routerchecker", rule="^[A-Za-z0-9/._-]+$")},
        [("check", "middleware.http.routerchecker")],
    )
    sidecar = procs.sidecar("checked", resources=resources, config=config)
    assert call(f"{sidecar.url}/v1.0/state/store/plain-key")[0] == 204
    status, headers, body = call(f"{sidecar.url}/v1.0/state/store/cat%20password")
    assert (status, body) == (400, b"invalid router")
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert call(f"{sidecar.url}/v1.0/state/store/plain-key?consistency=strong")[0] == 400  # no query allowed


# --- bearer, with a JWKS served by this test --------------------------------------------------------
ISSUER = "https://issuer.pydapr.test"
AUDIENCE = "pydapr-e2e"


class _Jwks:
    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa
        from jwt.algorithms import RSAAlgorithm

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid="e2e-key", alg="RS256", use="sig")
        document = json.dumps({"keys": [jwk]}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200 if self.path == "/jwks.json" else 404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(document)))
                self.end_headers()
                self.wfile.write(document)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def token(self, **claims: Any) -> str:
        import jwt

        now = int(time.time())
        payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "someone", "iat": now, "exp": now + 300, **claims}
        return jwt.encode(payload, self.key, algorithm="RS256", headers={"kid": "e2e-key"})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def jwks() -> Iterator[_Jwks]:
    served = _Jwks()
    try:
        yield served
    finally:
        served.close()


def test_bearer_requires_a_valid_token(procs: Processes, tmp_path: Path, jwks: _Jwks) -> None:
    resources, config = _setup(
        tmp_path,
        {"auth": _component("auth", "bearer", issuer=ISSUER, audience=AUDIENCE, jwksURL=jwks.url)},
        [("auth", "middleware.http.bearer")],
    )
    sidecar = procs.sidecar("guarded", resources=resources, config=config, wait=False)
    valid = {"authorization": f"Bearer {jwks.token()}"}
    deadline = time.monotonic() + 30
    while call_or_none(f"{sidecar.url}/v1.0/healthz", valid) != 204:
        assert sidecar.alive, sidecar.log()
        assert time.monotonic() < deadline, sidecar.log()
        time.sleep(0.05)
    # The health probe is behind the pipeline too, as in daprd.
    assert http_status(f"{sidecar.url}/v1.0/healthz") == 401
    status, headers, body = call(f"{sidecar.url}/v1.0/metadata")
    assert (status, body) == (401, b"Unauthorized")
    assert headers["content-type"] == "text/plain; charset=utf-8"
    status, _, body = call(f"{sidecar.url}/v1.0/metadata", headers=valid)
    assert status == 200 and as_json(body)["id"] == "guarded"
    for wrong in (
        {"iss": "https://elsewhere.test"},
        {"aud": "someone-else"},
        {"exp": int(time.time()) - 600},
    ):
        token = jwks.token(**wrong)
        status, _, body = call(f"{sidecar.url}/v1.0/metadata", headers={"authorization": f"Bearer {token}"})
        assert (status, body) == (401, b"Unauthorized"), wrong
    assert call(f"{sidecar.url}/v1.0/metadata", headers={"authorization": "Basic dXNlcjpwdw=="})[0] == 401


def call_or_none(url: str, headers: dict[str, str]) -> int | None:
    try:
        return call(url, headers=headers)[0]
    except OSError:
        return None


# --- appHttpPipeline ---------------------------------------------------------------------------------
def test_app_pipeline_uppercases_what_the_app_receives(procs: Processes, tmp_path: Path) -> None:
    resources, config = _setup(
        tmp_path, {"up": _component("up", "uppercase")}, [], [("up", "middleware.http.uppercase")]
    )
    sidecar = _with_app(procs, "upapp", resources, config)
    status, _, body = call(f"{sidecar.url}/v1.0/invoke/upapp/method/echo", "POST", b"hello app")
    assert status == 200, body
    seen = as_json(body)
    assert (seen["method"], seen["path"], seen["body"]) == ("POST", "/echo", "HELLO APP")
    # The public API is not behind appHttpPipeline: a state save keeps its body.
    save = json.dumps([{"key": "k", "value": "lower"}]).encode()
    assert (
        call(f"{sidecar.url}/v1.0/state/store", "POST", save, {"content-type": "application/json"})[0] == 204
    )
    assert as_json(call(f"{sidecar.url}/v1.0/state/store/k")[2]) == "lower"


def test_app_pipeline_ratelimit_refuses_calls_to_the_app(procs: Processes, tmp_path: Path) -> None:
    resources, config = _setup(
        tmp_path,
        {"limit": _component("limit", "ratelimit", maxRequestsPerSecond="1")},
        [],
        [("limit", "middleware.http.ratelimit")],
    )
    sidecar = _with_app(procs, "limitedapp", resources, config)
    answers = [call(f"{sidecar.url}/v1.0/invoke/limitedapp/method/echo") for _ in range(3)]
    assert answers[0][0] == 200, answers[0]
    # The app got the X-Forwarded-For the limiter adds to a request with no client address.
    assert as_json(answers[0][2])["headers"]["x-forwarded-for"] == "0.0.0.0"
    assert [(status, body) for status, _, body in answers[1:]] == [(429, LIMIT_REACHED)] * 2
    # The public API itself is not limited.
    assert all(call(f"{sidecar.url}/v1.0/metadata")[0] == 200 for _ in range(3))


def test_one_component_in_both_pipelines_shares_its_state(procs: Processes, tmp_path: Path) -> None:
    resources, config = _setup(
        tmp_path,
        {"limit": _component("limit", "ratelimit", maxRequestsPerSecond="1")},
        [("limit", "middleware.http.ratelimit")],
        [("limit", "middleware.http.ratelimit")],
    )
    sidecar = _with_app(procs, "both", resources, config)
    # Through the dapr-app-id header the API path is the app's, /echo; the app-side request has no
    # client address, so the limiter keys it 0.0.0.0, the address this caller claims: both pipelines
    # ask the one bucket, and the token the API side took is not there for the app side.
    headers = {"dapr-app-id": "both", "x-forwarded-for": "0.0.0.0"}
    status, _, body = call(f"{sidecar.url}/echo", headers=headers)
    assert (status, body) == (429, LIMIT_REACHED)
    time.sleep(1.1)
    # A caller keyed otherwise takes its own API-side token; the app side has the refilled one.
    status, _, body = call(f"{sidecar.url}/echo", headers={"dapr-app-id": "both"})
    assert status == 200, body


# --- handlers that name no loaded component ------------------------------------------------------------
def test_handler_without_its_component_is_skipped_with_a_warning(procs: Processes, tmp_path: Path) -> None:
    resources, config = _setup(
        tmp_path,
        {"up": _component("up", "uppercase")},
        [("nosuch", "middleware.http.uppercase"), ("up", "middleware.http.ratelimit")],
    )
    sidecar = procs.sidecar("skipping", resources=resources, config=config)
    save = json.dumps([{"key": "k", "value": "lower"}]).encode()
    assert (
        call(f"{sidecar.url}/v1.0/state/store", "POST", save, {"content-type": "application/json"})[0] == 204
    )
    assert as_json(call(f"{sidecar.url}/v1.0/state/store/k")[2]) == "lower"  # nothing uppercased it
    # The log's msg="..." escapes the quotes.
    lines = [
        line.replace('\\"', '"') for line in sidecar.log().splitlines() if "the handler is skipped" in line
    ]
    where = f'{config}: Configuration "mw": spec.httpPipeline.handlers'
    assert len(lines) == 2, sidecar.log()
    assert (
        f'{where}[0] (name "nosuch", type middleware.http.uppercase/v1): no middleware component "nosuch"'
        in lines[0]
    )
    assert f'{where}[1] (name "up", type middleware.http.ratelimit/v1): component "up"' in lines[1]
    assert "is middleware.http.uppercase/v1" in lines[1]
