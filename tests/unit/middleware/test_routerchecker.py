"""middleware.http.routerchecker: the request URI must match ``rule``, else 400 ``invalid router``."""

from __future__ import annotations

import pytest

from pydapr.components.base import ComponentConfigError
from tests.unit.middleware.conftest import component, pipeline

DOCS_RULE = "^[A-Za-z0-9/._-]+$"


@pytest.mark.parametrize(
    "path",
    [
        "/v1.0/invoke/demo/method/method",
        "/v1.0/invoke/demo.default/method/method",
        "/v1.0/invoke/demo.default/method/01",
        "/v1.0/invoke/demo.default/method/METHOD",
        "/v1.0/invoke/demo.default/method/user/info",
        "/v1.0/invoke/demo.default/method/user_info",
        "/v1.0/invoke/demo.default/method/user-info",
    ],
)
async def test_docs_pass_cases(path: str) -> None:
    p = await pipeline("routerchecker", rule=DOCS_RULE)
    resp = await p.send(path)
    assert resp.status == 200
    assert p.echo.last.path == path


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/v1.0/invoke/demo.default/method/cat%20password", ""),
        ("/v1.0/invoke/demo.default/method/%22%20AND%204210=4210%20limit%201", ""),
        ('/v1.0/invoke/demo.default/method/"$(curl', ""),  # re-escaped as Go's EscapedPath does
        ("/v1.0/invoke/demo/method/ok", "a=b"),  # the query is part of the request URI
    ],
)
async def test_docs_fail_cases(path: str, query: str) -> None:
    p = await pipeline("routerchecker", rule=DOCS_RULE)
    resp = await p.send(path, query=query)
    assert resp.status == 400
    assert resp.body == b"invalid router"
    assert resp.headers.get("content-type") == "text/plain; charset=utf-8"
    assert p.echo.seen == []


async def test_rule_is_searched_not_anchored_and_sees_the_query() -> None:
    p = await pipeline("routerchecker", rule=r"state|\?debug=1\z")
    assert (await p.send("/v1.0/state/s")).status == 200
    assert (await p.send("/v1.0/invoke/a/method/m", query="debug=1")).status == 200
    assert (await p.send("/v1.0/invoke/a/method/m", query="debug=12")).status == 400


async def test_classes_are_ascii_as_in_go() -> None:
    p = await pipeline("routerchecker", rule=r"^/\d+$")
    assert (await p.send("/123")).status == 200
    assert (await p.send("/%D9%A3")).status == 400


async def test_bad_rule() -> None:
    with pytest.raises(ComponentConfigError) as info:
        await component("routerchecker", rule="([a-z")
    assert str(info.value) == (
        "metadata.rule: failed to compile rule regexp: unterminated character set at position 1"
    )
    assert info.value.field_name == "rule"
