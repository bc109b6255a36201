"""spec.components.deny entries as daprd's authorizer reads them."""

from __future__ import annotations

from pathlib import Path

from pydapr.resources import Component
from pydapr.sidecar.component_deny import allowed_components, parse_deny_list


def _spec(name: str, type_: str, version: str = "v1") -> Component:
    return Component(name=name, type=type_, version=version, source=Path("c.yaml"))


def test_parse() -> None:
    assert parse_deny_list(["bindings.smtp", "state.redis/v1", "", "a/b/c"]) == [
        ("bindings.smtp", ""),
        ("state.redis", "v1"),
    ]


def test_type_or_type_and_version() -> None:
    specs = [_spec("a", "bindings.smtp"), _spec("b", "state.redis"), _spec("c", "state.sqlite")]
    kept = allowed_components(specs, ["bindings.smtp", "state.redis/v2"])
    assert [s.name for s in kept] == ["b", "c"]
    assert [s.name for s in allowed_components(specs, ["state.redis/v1"])] == ["a", "c"]


def test_missing_version_compares_as_the_one_loaded() -> None:
    assert allowed_components([_spec("a", "state.redis", "")], ["state.redis/v1"]) == []
