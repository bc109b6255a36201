"""The OpenAPI description (src/pydapr/api/http/openapi.yaml) lists exactly the routes the sidecar's
router serves, both ways, so the document cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pydapr.api.http import openapi
from pydapr.api.http.router import Router
from pydapr.sidecar.options import SidecarOptions
from pydapr.sidecar.runtime import Runtime, _block_classes
from pydapr.sidecar.unimplemented import UnimplementedBlock

VERBS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# A router "*" route is any verb; the document writes each one an HTTP client uses.
ANY_VERB = frozenset({"get", "put", "post", "delete", "patch", "head", "options"})


def _router_routes(tmp_path: Path) -> set[tuple[str, str]]:
    """Every (verb, pattern) the blocks of a real runtime register, as the sidecar builds them."""
    runtime = Runtime(SidecarOptions(app_id="openapi-test", base_dir=tmp_path))
    # The unimplemented block's catch-alls answer ERR_API_UNIMPLEMENTED for blocks not installed:
    # no API of their own.
    runtime.blocks = [cls(runtime) for cls in _block_classes() if cls is not UnimplementedBlock]
    router = Router()
    for block in runtime.blocks:
        block.register_http(router)
    routes: set[tuple[str, str]] = set()
    for verb, pattern in router.routes():
        for v in ANY_VERB if verb == "*" else {verb.lower()}:
            routes.add((v, pattern))
    return routes


def _document_routes() -> set[tuple[str, str]]:
    routes: set[tuple[str, str]] = set()
    for path, item in openapi.document()["paths"].items():
        pattern = item.get(openapi.ROUTE_EXTENSION, path)
        routes.update((verb, pattern) for verb in VERBS if verb in item)
    return routes


async def test_document_lists_exactly_the_router_routes(tmp_path: Path) -> None:
    served = _router_routes(tmp_path)
    documented = _document_routes()
    assert served, "the runtime registered no route"
    assert sorted(served - documented) == [], "routes the document does not describe"
    assert sorted(documented - served) == [], "documented routes the sidecar does not serve"


def test_paths_written_with_a_catch_all_name_it() -> None:
    # A documented path's parameters are the pattern's, with `{x:*}` written `{x}`.
    for path, item in openapi.document()["paths"].items():
        pattern = item.get(openapi.ROUTE_EXTENSION)
        if pattern is not None and "/invoke/" not in pattern:
            assert re.sub(r"\{(\w+):\*\}", r"{\1}", pattern) == path


def test_every_operation_answers_errors_in_daprs_shape() -> None:
    doc = openapi.document()
    error = doc["components"]["schemas"]["Error"]
    assert error["required"] == ["errorCode", "message"]
    for path, item in doc["paths"].items():
        for verb in VERBS:
            if verb in item and path not in ("/v1.0/metadata", "/v1.0/shutdown", openapi.ROUTE):
                codes = item[verb]["responses"]
                assert any(c.startswith(("4", "5")) for c in codes), f"{verb} {path} lists no error"


@pytest.mark.parametrize("version", ["3.1.0"])
def test_document_is_openapi_3_1(version: str) -> None:
    import schemathesis

    doc = openapi.document()
    assert doc["openapi"] == version
    schema = schemathesis.openapi.from_dict(doc)
    assert len(list(schema.get_all_operations())) >= len(_document_routes()) - 1
