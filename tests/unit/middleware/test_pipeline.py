"""httpPipeline / appHttpPipeline built from a Configuration file and the loaded components, as in daprd."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest

from pydapr import errors
from pydapr.api.http.dispatch import build_pipeline, dapr_errors_as_responses
from pydapr.components.base import ComponentMetadata
from pydapr.components.registry import registry
from pydapr.http.messages import Headers, Request, Response
from pydapr.middleware.contract import Handler, HttpMiddleware, Middleware
from pydapr.middleware.pipeline import app_http_pipeline, http_pipeline, unapplied_selectors
from pydapr.resources import Component as ComponentSpec
from pydapr.resources import Configuration, MetadataItem, load_configurations
from pydapr.sidecar.components import ComponentStore, LoadedComponent
from tests.unit.middleware.conftest import Echo


def _config(tmp_path: Path, spec: str) -> Configuration:
    path = tmp_path / "config.yaml"
    path.write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: mw\nspec:\n"
        + textwrap.indent(textwrap.dedent(spec), "  ")
    )
    return load_configurations([path])


async def _store(tmp_path: Path, *components: Spec) -> ComponentStore:
    store = ComponentStore(app_id="a", namespace="default", base_dir=tmp_path)
    for name, kind, version, props in components:
        spec = ComponentSpec(
            name=name,
            type=kind,
            version=version,
            source=tmp_path / f"{name}.yaml",
            metadata=tuple(MetadataItem(name=k, value=v) for k, v in props.items()),
        )
        instance = registry.create(kind.lower(), "v1")
        meta = ComponentMetadata(name=name, type=kind, version=version, properties=props)
        await instance.init(meta)
        store.add(LoadedComponent(spec, meta, instance))
    return store


async def _call(handler: Handler, path: str = "/v1.0/state/s", body: bytes = b"abc") -> Response:
    return await handler(Request("POST", path, "", Headers(), body, ("127.0.0.1", 4000)))


Spec = tuple[str, str, str, dict[str, str]]
UPPER: Spec = ("up", "middleware.http.uppercase", "v1", {})
CHECK: Spec = ("check", "middleware.http.routerchecker", "v1", {"rule": "^[a-z0-9/.]+$"})


async def test_handlers_run_in_order_and_unnamed_components_do_nothing(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        """
        httpPipeline:
          handlers:
          - name: check
            type: middleware.http.routerchecker
          - name: up
            type: middleware.http.uppercase
        """,
    )
    store = await _store(tmp_path, UPPER, CHECK, ("idle", "middleware.http.ratelimit", "v1", {}))
    chain = http_pipeline(config, store)
    assert len(chain) == 3 and chain[-1] is dapr_errors_as_responses
    echo = Echo()
    handler = build_pipeline(echo, chain)
    resp = await _call(handler, body=b"abc")
    assert (resp.status, resp.body) == (200, b"ABC")
    # routerchecker came first: a refused path never reaches uppercase or the routes.
    resp = await _call(handler, path="/v1.0/state/S%20", body=b"x")
    assert (resp.status, resp.body) == (400, b"invalid router")
    assert len(echo.seen) == 1
    # The loaded but unnamed ratelimit adds nothing.
    assert "x-rate-limit-limit" not in resp.headers
    assert app_http_pipeline(config, store) == []


async def test_no_configuration_or_no_handlers_is_an_empty_chain(tmp_path: Path) -> None:
    store = await _store(tmp_path, UPPER)
    assert http_pipeline(None, store) == []
    assert app_http_pipeline(None, store) == []
    assert http_pipeline(_config(tmp_path, "httpPipeline: {}\n"), store) == []


async def test_one_component_in_both_pipelines_is_built_once(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        """
        httpPipeline:
          handlers:
          - {name: limit, type: middleware.http.ratelimit}
        appHttpPipeline:
          handlers:
          - {name: limit, type: middleware.http.ratelimit}
        """,
    )
    limit: Spec = ("limit", "middleware.http.ratelimit", "v1", {"maxRequestsPerSecond": "1"})
    store = await _store(tmp_path, limit)
    server = http_pipeline(config, store)
    app = app_http_pipeline(config, store)
    assert server[0] is app[0]
    assert http_pipeline(config, store)[0] is server[0]
    # One bucket set: a request through one pipeline uses the token the other would have had.
    assert (await _call(build_pipeline(Echo(), server))).status == 200
    assert (await _call(build_pipeline(Echo(), app))).status == 429


async def test_missing_component_or_other_type_or_version_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = _config(
        tmp_path,
        """
        appHttpPipeline:
          handlers:
          - {name: nosuch, type: middleware.http.uppercase}
          - {name: up, type: middleware.http.ratelimit}
          - {name: up, type: middleware.http.uppercase, version: v2}
          - {name: state, type: state.in-memory}
          - {name: up, type: middleware.http.uppercase, version: v1}
        """,
    )
    store = await _store(tmp_path, UPPER)
    with caplog.at_level(logging.WARNING, "pydapr.middleware"):
        chain = app_http_pipeline(config, store)
    assert len(chain) == 1
    assert (await _call(build_pipeline(Echo(), chain))).body == b"ABC"
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    where = f'{tmp_path / "config.yaml"}: Configuration "mw": spec.appHttpPipeline.handlers'
    assert lines == [
        f'{where}[0] (name "nosuch", type middleware.http.uppercase/v1): no middleware component "nosuch" '
        "is loaded; the handler is skipped, as daprd skips it",
        f'{where}[1] (name "up", type middleware.http.ratelimit/v1): component "up" ({tmp_path / "up.yaml"}) '
        "is middleware.http.uppercase/v1; the handler is skipped, as daprd skips a handler whose type or "
        "version differs from its component's",
        f'{where}[2] (name "up", type middleware.http.uppercase/v2): component "up" ({tmp_path / "up.yaml"}) '
        "is middleware.http.uppercase/v1; the handler is skipped, as daprd skips a handler whose type or "
        "version differs from its component's",
        f'{where}[3] (name "state", type state.in-memory/v1): no middleware component "state" is loaded; '
        "the handler is skipped, as daprd skips it",
    ]


async def test_type_is_compared_exactly_and_an_empty_version_is_v1(tmp_path: Path) -> None:
    # daprd's store compares the strings as written: a component spelled in another case does not match.
    config = _config(
        tmp_path,
        """
        httpPipeline:
          handlers:
          - {name: up, type: middleware.http.uppercase}
          - {name: loud, type: middleware.http.uppercase}
          - {name: old, type: middleware.http.uppercase}
        """,
    )
    store = await _store(
        tmp_path,
        ("up", "middleware.http.uppercase", "", {}),
        ("loud", "Middleware.HTTP.Uppercase", "v1", {}),
        ("old", "middleware.http.uppercase", "v0", {}),
    )
    chain = http_pipeline(config, store)
    assert len(chain) == 2  # "up" and the error step


async def test_dapr_errors_further_in_reach_the_middlewares_as_responses(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        """
        httpPipeline:
          handlers:
          - {name: loud, type: middleware.http.uppercase}
        """,
    )
    store = await _store(tmp_path, ("loud", "middleware.http.uppercase", "v1", {"direction": "response"}))

    async def not_found(req: Request) -> Response:
        raise errors.NOT_FOUND(req.path)

    resp = await _call(build_pipeline(not_found, http_pipeline(config, store)), path="/v1.0/nope")
    assert resp.status == 404
    assert resp.body == b'{"ERRORCODE":"ERR_NOT_FOUND","MESSAGE":"METHOD /V1.0/NOPE IS NOT FOUND"}'

    async def broken(req: Request) -> Response:
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError):  # left to the server, which answers 500
        await _call(build_pipeline(broken, http_pipeline(config, store)))


def test_selectors_are_named_as_not_applied(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        """
        httpPipeline:
          handlers:
          - name: up
            type: middleware.http.uppercase
            selector:
              fields:
              - {field: method, value: POST}
          - {name: plain, type: middleware.http.uppercase}
        """,
    )
    assert list(unapplied_selectors(config)) == [
        f'{tmp_path / "config.yaml"}: Configuration "mw": spec.httpPipeline.handlers[0].selector is not '
        'applied (daprd ignores it too); handler "up" runs for every request'
    ]


def test_middleware_is_built_once() -> None:
    calls: list[int] = []

    class Counting(HttpMiddleware):
        def handler(self) -> Middleware:
            calls.append(1)

            async def step(req: Request, call_next: Handler) -> Response:
                return await call_next(req)

            return step

    comp = Counting()
    assert comp.middleware() is comp.middleware()
    assert len(calls) == 1
