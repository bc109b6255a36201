"""GET /dapr/config as the SDKs write it, into HostedTypes."""

from __future__ import annotations

from pydapr.actors.hostconfig import parse_app_config


def test_python_sdk_config() -> None:
    hosted, warnings = parse_app_config(
        {
            "actorIdleTimeout": "1h0m0s",
            "actorScanInterval": "30s",
            "drainOngoingCallTimeout": "1m0s",
            "drainRebalancedActors": True,
            "reentrancy": {"enabled": True, "maxStackDepth": 8},
            "entities": ["Counter", "Timer"],
            "entitiesConfig": [
                {"entities": ["Timer"], "actorIdleTimeout": "5s", "reentrancy": {"enabled": False}}
            ],
        }
    )
    assert warnings == []
    assert hosted.scan_interval == 30.0
    counter, timer = hosted.entities["Counter"], hosted.entities["Timer"]
    assert (counter.idle_timeout, counter.reentrancy_enabled, counter.reentrancy_max_stack_depth) == (
        3600.0,
        True,
        8,
    )
    assert (timer.idle_timeout, timer.reentrancy_enabled) == (5.0, False)
    assert timer.drain_ongoing_call_timeout == 60.0


def test_defaults_and_warnings() -> None:
    hosted, warnings = parse_app_config(
        {"Entities": ["A"], "actorIdleTimeout": "an hour", "remindersStoragePartitions": 4}
    )
    assert hosted.entities["A"].idle_timeout == 3600.0  # Go-style field names match case-insensitively
    assert hosted.scan_interval == 30.0
    assert any("actorIdleTimeout" in w for w in warnings)
    assert any("remindersStoragePartitions is not applied" in w for w in warnings)
    assert parse_app_config({}) == (parse_app_config({"entities": []})[0], [])
