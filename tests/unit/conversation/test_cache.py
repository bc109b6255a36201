"""The response cache: identical requests hit within the TTL, anything different misses."""

from __future__ import annotations

from pydapr.conversation.cache import ResponseCache, request_key
from pydapr.conversation.model import (
    Choice,
    ConverseRequest,
    ConverseResponse,
    Message,
    Output,
    Role,
    Text,
    Tool,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _request(text: str = "hi", **options: object) -> ConverseRequest:
    return ConverseRequest((Message(Role.USER, (Text(text),)),), **options)  # type: ignore[arg-type]


def _response(text: str) -> ConverseResponse:
    return ConverseResponse((Output((Choice("stop", 0, text),)),))


def test_hit_within_ttl_and_miss_after() -> None:
    clock = Clock()
    cache = ResponseCache(10.0, clock=clock)
    key = request_key(_request())
    assert cache.get(key) is None
    cache.put(key, _response("one"))
    clock.now += 9.9
    assert cache.get(key) == _response("one")
    clock.now += 0.2
    assert cache.get(key) is None
    assert len(cache) == 0


def test_key_covers_messages_and_every_option() -> None:
    base = request_key(_request())
    assert request_key(_request()) == base
    variants = [
        _request("hello"),
        _request(temperature=0.5),
        _request(tools=(Tool("f", "", {"type": "object"}),)),
        _request(tool_choice="none"),
        _request(metadata={"a": "b"}),
        _request(response_format={"type": "object"}),
        _request(max_tokens=5),
        _request(prompt_cache_retention_seconds=60.0),
        ConverseRequest((Message(Role.SYSTEM, (Text("hi"),)),)),
    ]
    keys = {request_key(v) for v in variants}
    assert base not in keys
    assert len(keys) == len(variants)


def test_oldest_entries_are_evicted_beyond_the_bound() -> None:
    cache = ResponseCache(60.0, max_entries=2)
    for i in range(3):
        cache.put(f"k{i}", _response(str(i)))
    assert cache.get("k0") is None
    assert cache.get("k1") == _response("1")
    assert cache.get("k2") == _response("2")
