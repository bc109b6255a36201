"""Model helpers and the Go-compatible stringification of metadata values."""

from __future__ import annotations

from pathlib import Path

import pytest

from pydapr.resources import Component, MetadataItem, ResourceError, SecretKeyRef, SecretScope
from pydapr.resources._values import go_text


def _component(*items: MetadataItem) -> Component:
    return Component(name="c", type="state.redis", version="v1", source=Path("x.yaml"), metadata=items)


def test_family_and_metadata_helpers() -> None:
    ref = SecretKeyRef(name="redis", key="password")
    comp = _component(
        MetadataItem("host", "localhost:6379"),
        MetadataItem("password", None, ref),
        MetadataItem("host", "other:6379"),
    )
    assert comp.family == "state"
    assert Component(name="b", type="bindings.azure.blobstorage", version="v1", source=Path()).family == (
        "bindings"
    )
    assert comp.plain_metadata() == {"host": "other:6379"}
    assert comp.secret_refs() == [("password", ref)]
    assert comp.with_values({"password": "s3cret"}) == {"host": "other:6379", "password": "s3cret"}


def test_models_are_frozen() -> None:
    comp = _component()
    with pytest.raises(AttributeError):
        comp.name = "other"  # type: ignore[misc]


def test_secret_scope_rules() -> None:
    assert SecretScope().is_allowed("x")
    assert not SecretScope(default_access="deny").is_allowed("x")
    assert SecretScope(default_access="deny", allowed=("a",)).is_allowed("a")
    assert not SecretScope(allowed=("a",)).is_allowed("b")
    assert not SecretScope(denied=("b",)).is_allowed("b")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain", "plain"),
        (True, "true"),
        (False, "false"),
        (10, "10"),
        (-3, "-3"),
        (1.0, "1"),
        (0.5, "0.5"),
        (1e21, "1e+21"),
        (1.5e-7, "1.5e-7"),
        (123456789.0, "123456789"),
        ([1, "a"], '[1,"a"]'),
        ({"b": 1, "a": [True, None]}, '{"a":[true,null],"b":1}'),
        ({"html": "<a & b>"}, '{"html":"\\u003ca \\u0026 b\\u003e"}'),
        ({1: "x"}, '{"1":"x"}'),
        ({"u": "é"}, '{"u":"é"}'),
    ],
)
def test_go_text(value: object, text: str) -> None:
    assert go_text(value) == text


def test_go_text_rejects_nan() -> None:
    with pytest.raises(ValueError) as info:
        go_text(float("nan"))
    assert str(info.value) == "unsupported number nan (JSON has no NaN or infinity)"


def test_resource_error_attributes_and_line() -> None:
    err = ResourceError(
        "resources/statestore.yaml", "field required", kind="Component", name="statestore", field="spec.type"
    )
    assert str(err) == 'resources/statestore.yaml: Component "statestore": spec.type: field required'
    assert (err.file, err.kind, err.name, err.field) == (
        Path("resources/statestore.yaml"),
        "Component",
        "statestore",
        "spec.type",
    )
    assert (
        str(ResourceError("a.yaml", "bad", kind="Component", document=2))
        == "a.yaml: Component (document 2): bad"
    )
