"""Pointing the Dapr SDK at a test sidecar for a while, and back: what the SDK's clients then reach."""

from __future__ import annotations

import pytest
from dapr.clients.http.helpers import get_api_url
from dapr.conf import settings

from pydapr.testing.sdk import pointed_at


def test_inside_the_sdk_reaches_the_sidecar_and_afterwards_the_environment_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DAPR_HTTP_ENDPOINT", "http://elsewhere:1234")
    before = get_api_url()

    with pointed_at(41001, 41002):
        assert get_api_url() == "http://127.0.0.1:41001/v1.0"
        assert settings.DAPR_GRPC_PORT == 41002

    assert get_api_url() == before == "http://elsewhere:1234/v1.0"


def test_nested_uses_unwind_to_the_outer_sidecar() -> None:
    with pointed_at(41001, 41002):
        with pointed_at(42001, 42002):
            assert get_api_url() == "http://127.0.0.1:42001/v1.0"
        assert get_api_url() == "http://127.0.0.1:41001/v1.0"
        assert settings.DAPR_GRPC_PORT == 41002
