"""ComponentMetadata remembers which keys were looked up, case-insensitively as Dapr matches them."""

from __future__ import annotations

from pydapr.components.base import ComponentMetadata


def _meta(**props: str) -> ComponentMetadata:
    return ComponentMetadata(name="c", type="state.redis", version="v1", properties=dict(props))


def test_keys_never_looked_up_are_unread_in_the_files_order() -> None:
    meta = _meta(redisHost="h:1", ReadTimeout="3s", maxRetries="3", enableTLS="false")
    assert meta.get("redishost") == "h:1"
    assert meta.get_bool("enableTLS") is False
    assert meta.get("poolSize") is None  # asked for and absent: nothing to report
    assert meta.unread() == ["ReadTimeout", "maxRetries"]


def test_a_key_asked_for_with_a_default_counts_as_read() -> None:
    meta = _meta(timeout="5s", redisDB="2")
    meta.get_int("redisDB", 0)
    meta.get("timeout", "30s")
    assert meta.unread() == []


def test_all_properties_marks_every_key_read() -> None:
    meta = _meta(**{"/v1/a": "/v1.0/invoke/x/method/a", "/v1/b": "/v1.0/invoke/x/method/b"})
    assert set(meta.all_properties()) == {"/v1/a", "/v1/b"}
    assert meta.unread() == []
