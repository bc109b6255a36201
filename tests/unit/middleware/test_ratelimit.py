"""middleware.http.ratelimit: tollbooth's token bucket per client IP and path, its headers and its 429."""

from __future__ import annotations

import pytest

from pydapr.components.base import ComponentConfigError
from pydapr.middleware.ratelimit import RateLimitMiddleware, canonical_ip
from tests.unit.middleware.conftest import Pipeline, metadata


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def limited(clock: Clock, **props: str) -> Pipeline:
    mw = RateLimitMiddleware(clock=clock)
    await mw.init(metadata("ratelimit", **props))
    return Pipeline(mw)


async def test_burst_then_429_with_daprs_body_and_headers() -> None:
    clock = Clock()
    p = await limited(clock, maxRequestsPerSecond="2")
    first = await p.send()
    second = await p.send()
    third = await p.send()
    assert (first.status, second.status) == (200, 200)
    assert first.headers.get("ratelimit-remaining") == "1"
    assert second.headers.get("ratelimit-remaining") == "0"
    assert third.status == 429
    assert third.body == b"You have reached maximum request limit."
    assert third.headers.get("content-type") == "text/plain; charset=utf-8"
    assert third.headers.get("x-rate-limit-limit") == "2.00"
    assert third.headers.get("x-rate-limit-duration") == "1"
    assert third.headers.get("x-rate-limit-request-remote-addr") == "127.0.0.1:50000"
    assert third.headers.get("ratelimit-limit") == "2"
    assert third.headers.get("ratelimit-reset") == "1"
    assert third.headers.get("ratelimit-remaining") == "0"
    assert len(p.echo.seen) == 2


async def test_tokens_refill_at_the_rate() -> None:
    clock = Clock()
    p = await limited(clock, maxRequestsPerSecond="2")
    await p.send()
    await p.send()
    assert (await p.send()).status == 429
    clock.now += 0.5  # one token back
    assert (await p.send()).status == 200
    assert (await p.send()).status == 429
    clock.now += 10  # never more than the burst
    assert [(await p.send()).status for _ in range(3)] == [200, 200, 429]


async def test_fractional_rate_has_a_burst_of_one() -> None:
    clock = Clock()
    p = await limited(clock, maxRequestsPerSecond="0.5")
    assert (await p.send()).status == 200
    clock.now += 1.9
    assert (await p.send()).status == 429
    clock.now += 0.1
    resp = await p.send()
    assert resp.status == 200
    assert resp.headers.get("x-rate-limit-limit") == "0.50"
    assert resp.headers.get("ratelimit-limit") == "1"  # math.Round(0.5): halves away from zero


async def test_buckets_are_per_path_and_per_client() -> None:
    clock = Clock()
    p = await limited(clock, maxRequestsPerSecond="1")
    assert (await p.send("/a")).status == 200
    assert (await p.send("/a")).status == 429
    assert (await p.send("/b")).status == 200
    assert (await p.send("/%61")).status == 429  # the decoded path is the key, as r.URL.Path
    assert (await p.send("/a", client=("10.0.0.2", 1))).status == 200


async def test_client_ip_from_forwarded_headers_first() -> None:
    clock = Clock()
    p = await limited(clock, maxRequestsPerSecond="1")
    xff = [("x-forwarded-for", "1.1.1.1, 2.2.2.2")]
    resp = await p.send(headers=xff)
    assert resp.headers.get("x-rate-limit-request-forwarded-for") == "1.1.1.1, 2.2.2.2"
    # the last X-Forwarded-For entry is the client, whatever the peer
    other_peer = await p.send(headers=[("x-forwarded-for", "9.9.9.9,2.2.2.2")], client=("8.8.8.8", 1))
    assert other_peer.status == 429
    assert (await p.send(headers=[("x-real-ip", "2.2.2.2")])).status == 429
    assert (await p.send(headers=[("x-real-ip", "3.3.3.3")])).status == 200
    assert (await p.send()).status == 200  # the peer, 127.0.0.1, has its own bucket


async def test_no_address_is_keyed_as_dapr_does_and_forwarded_as_0000() -> None:
    clock = Clock()
    p = await limited(clock, maxRequestsPerSecond="1")
    resp = await p.send(client=None)
    assert resp.status == 200
    assert p.echo.last.headers.get("x-forwarded-for") == "0.0.0.0"
    assert resp.headers.get("x-rate-limit-request-remote-addr") == ""
    assert resp.headers.get("x-rate-limit-request-forwarded-for") == "0.0.0.0"
    assert (await p.send(client=None)).status == 429
    assert (await p.send(headers=[("x-forwarded-for", "0.0.0.0")])).status == 429


async def test_ipv6_clients_share_their_64_prefix() -> None:
    assert canonical_ip("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::"
    assert canonical_ip("10.1.2.3") == "10.1.2.3"
    assert canonical_ip("not-an-ip") == "not-an-ip"
    clock = Clock()
    p = await limited(clock, maxRequestsPerSecond="1")
    resp = await p.send(client=("2001:db8:1:2::5", 443))
    assert resp.headers.get("x-rate-limit-request-remote-addr") == "[2001:db8:1:2::5]:443"
    assert (await p.send(client=("2001:db8:1:2:ffff::9", 443))).status == 429
    assert (await p.send(client=("2001:db8:1:3::5", 443))).status == 200


async def test_default_is_100_per_second() -> None:
    clock = Clock()
    p = await limited(clock)
    statuses = [(await p.send()).status for _ in range(101)]
    assert statuses.count(200) == 100
    assert statuses[-1] == 429


async def test_idle_full_buckets_are_forgotten() -> None:
    clock = Clock()
    mw = RateLimitMiddleware(clock=clock)
    await mw.init(metadata("ratelimit", maxRequestsPerSecond="1"))
    p = Pipeline(mw)
    for i in range(50):
        await p.send(f"/p{i}")
    assert len(mw.buckets) == 50
    clock.now += 61
    await p.send("/new")
    assert len(mw.buckets) == 1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "metadata.maxRequestsPerSecond: must be a positive, finite number, got '0'"),
        ("-2", "metadata.maxRequestsPerSecond: must be a positive, finite number, got '-2'"),
        ("", "metadata.maxRequestsPerSecond: must be a positive, finite number, got ''"),
        ("nan", "metadata.maxRequestsPerSecond: must be a positive, finite number, got 'nan'"),
        ("inf", "metadata.maxRequestsPerSecond: must be a positive, finite number, got 'inf'"),
        ("foo-bar", "metadata.maxRequestsPerSecond: must be a number, got 'foo-bar'"),
    ],
)
async def test_bad_metadata(value: str, message: str) -> None:
    with pytest.raises(ComponentConfigError) as info:
        await RateLimitMiddleware().init(metadata("ratelimit", maxRequestsPerSecond=value))
    assert str(info.value) == message
    assert info.value.field_name == "maxRequestsPerSecond"


async def test_float_and_case_insensitive_name() -> None:
    mw = RateLimitMiddleware()
    await mw.init(metadata("ratelimit", MAXREQUESTSPERSECOND="42.42"))
    assert mw.max_requests_per_second == 42.42
