"""middleware.http.routeralias: mux templates rewritten to their targets, query kept, variables added."""

from __future__ import annotations

import logging

import pytest

from pydapr.components.base import ComponentConfigError
from tests.unit.middleware.conftest import component, pipeline

DOCS_ROUTES = """
{
  "/mall/activity/info": "/v1.0/invoke/srv.default/method/mall/activity/info",
  "/hello/activity/{id}/info": "/v1.0/invoke/srv.default/method/hello/activity/info",
  "/hello/activity/{id}/user": "/v1.0/invoke/srv.default/method/hello/activity/user"
}
"""


async def test_alias_rewritten_and_query_kept() -> None:
    p = await pipeline("routeralias", routes=DOCS_ROUTES)
    resp = await p.send("/mall/activity/info", query="id=123")
    assert resp.status == 200
    assert p.echo.last.path == "/v1.0/invoke/srv.default/method/mall/activity/info"
    assert p.echo.last.query == "id=123"


async def test_variables_join_the_query_encoded_as_go_does() -> None:
    p = await pipeline("routeralias", routes=DOCS_ROUTES)
    await p.send("/hello/activity/42/user", query="z=1&a=b+c&bad=%zz&semi=1;2")
    assert p.echo.last.path == "/v1.0/invoke/srv.default/method/hello/activity/user"
    # sorted keys, values QueryEscaped, malformed pairs dropped as url.ParseQuery drops them
    assert p.echo.last.query == "a=b+c&id=42&z=1"


async def test_variable_added_after_a_query_value_of_the_same_name() -> None:
    p = await pipeline("routeralias", routes=DOCS_ROUTES)
    await p.send("/hello/activity/a%20b/info", query="id=first")
    assert p.echo.last.query == "id=first&id=a+b"


async def test_unmatched_requests_pass_unchanged() -> None:
    p = await pipeline("routeralias", routes=DOCS_ROUTES)
    cases = [("/mall/activity/info/", ""), ("/hello/activity/1/2/info", "q=1"), ("/v1.0/state/s", "")]
    for path, query in cases:
        await p.send(path, query=query)
        assert (p.echo.last.path, p.echo.last.query) == (path, query)


async def test_yaml_routes_custom_patterns_and_first_listed_wins() -> None:
    routes = """
/orders/{id:[0-9]+}: /v1.0/invoke/orders/method/by-id
/orders/{name}: /v1.0/invoke/orders/method/by-name
/files/{rest:.*}: /v1.0/invoke/files/method/get
"""
    p = await pipeline("routeralias", routes=routes)
    await p.send("/orders/17")
    assert (p.echo.last.path, p.echo.last.query) == ("/v1.0/invoke/orders/method/by-id", "id=17")
    await p.send("/orders/abc")
    assert (p.echo.last.path, p.echo.last.query) == ("/v1.0/invoke/orders/method/by-name", "name=abc")
    await p.send("/files/a/b%2Fc")
    assert (p.echo.last.path, p.echo.last.query) == ("/v1.0/invoke/files/method/get", "rest=a%2Fb%2Fc")


async def test_target_is_escaped_as_go_escapes_a_path() -> None:
    p = await pipeline("routeralias", routes='{"/x": "/v1.0/invoke/app/method/a b/ü"}')
    await p.send("/x")
    assert p.echo.last.path == "/v1.0/invoke/app/method/a%20b/%C3%BC"


async def test_legacy_key_value_pairs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "pydapr.middleware.routeralias"):
        p = await pipeline(
            "routeralias",
            **{"/a": "/v1.0/invoke/app/method/a", "/b/{id}": "/v1.0/invoke/app/method/b"},
        )
    assert "deprecated" in caplog.text
    await p.send("/b/7")
    assert (p.echo.last.path, p.echo.last.query) == ("/v1.0/invoke/app/method/b", "id=7")


async def test_templates_mux_refuses_never_match(caplog: pytest.LogCaptureFixture) -> None:
    routes = '{"/a/{id": "/t1", "no-slash": "/t2", "/c/{id:(x|y)}": "/t3", "/ok": "/t4"}'
    with caplog.at_level(logging.WARNING, "pydapr.middleware.routeralias"):
        p = await pipeline("routeralias", routes=routes)
    assert "unbalanced braces" in caplog.text
    assert "must start with a slash" in caplog.text
    assert "capture groups" in caplog.text
    for path in ["/a/{id", "no-slash", "/c/x"]:
        await p.send(path)
        assert p.echo.last.path == path
    await p.send("/ok")
    assert p.echo.last.path == "/t4"


@pytest.mark.parametrize(
    ("props", "field", "message"),
    [
        (
            {"routes": "{not: [valid"},
            "routes",
            "metadata.routes: failed to decode 'routes' property as JSON or YAML: while parsing a flow",
        ),
        (
            {"routes": "- /a\n- /b"},
            "routes",
            "metadata.routes: failed to decode 'routes' property as JSON or YAML: "
            "cannot unmarshal tag:yaml.org,2002:seq into a map",
        ),
        (
            {"routes": "/a: [1]"},
            "routes",
            "metadata.routes: failed to decode 'routes' property as JSON or YAML: line 1: "
            "cannot unmarshal tag:yaml.org,2002:seq into a string",
        ),
        (
            {"routes": "/a: /x\n/a: /y"},
            "routes",
            "metadata.routes: failed to decode 'routes' property as JSON or YAML: line 2: "
            "mapping key '/a' already defined",
        ),
        (
            {"/a": "/x", "/b": ""},
            "/b",
            "metadata./b: invalid key/value pair in metadata: must not be empty",
        ),
    ],
)
async def test_bad_metadata(props: dict[str, str], field: str, message: str) -> None:
    with pytest.raises(ComponentConfigError) as info:
        await component("routeralias", **props)
    assert str(info.value).startswith(message)
    assert info.value.field_name == field
