"""``middleware.http.ratelimit``: at most ``maxRequestsPerSecond`` requests per client IP and path.

As components-contrib's (tollbooth v7 with its defaults): one token bucket per (client IP, decoded
path) that refills at ``maxRequestsPerSecond`` and holds ``max(1, int(maxRequestsPerSecond))``
tokens, starting full. The client IP is the last entry of ``X-Forwarded-For``, else ``X-Real-IP``,
else the peer address (IPv6 grouped by /64); with none, ``X-Forwarded-For: 0.0.0.0`` is set on the
request and that is the key. Every response carries tollbooth's ``X-Rate-Limit-*`` and
``RateLimit-*`` headers; over the limit the answer is 429 ``You have reached maximum request limit.``
(text/plain). Default 100 when the field is absent.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.http.messages import Headers, Request, Response
from pydapr.middleware._gourl import decoded_path
from pydapr.middleware.contract import Handler, HttpMiddleware, Middleware, text_response

DEFAULT_MAX_REQUESTS_PER_SECOND = 100.0
LIMIT_MESSAGE = "You have reached maximum request limit."
# Full buckets are forgotten (a new one starts full, so nothing observable changes), at most this often.
_SWEEP_EVERY = 60.0


@dataclass(slots=True)
class _Bucket:
    tokens: float
    last: float


class TokenBuckets:
    """golang.org/x/time/rate buckets by key: ``rate`` tokens a second, at most ``burst``."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._swept_at = clock()

    def take(self, key: tuple[str, str]) -> int | None:
        """Take one token; the whole tokens left, or ``None`` when the bucket is empty."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if now - self._swept_at >= _SWEEP_EVERY:
                self._sweep(now)
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        tokens = min(float(self.burst), bucket.tokens + max(0.0, now - bucket.last) * self.rate)
        if tokens < 1.0:
            return None
        bucket.tokens = tokens - 1.0
        bucket.last = now
        return int(bucket.tokens)

    def _sweep(self, now: float) -> None:
        self._swept_at = now
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.last) * self.rate >= self.burst]
        for k in full:
            del self._buckets[k]

    def __len__(self) -> int:
        return len(self._buckets)


def _parse_max(meta: ComponentMetadata) -> float:
    text = meta.get("maxRequestsPerSecond")
    if text is None:
        return DEFAULT_MAX_REQUESTS_PER_SECOND
    try:
        # Go decodes an empty string as 0, which the positive check then refuses.
        value = float(text) if text.strip() else 0.0
    except ValueError:
        raise ComponentConfigError(
            meta.name, "maxRequestsPerSecond", f"must be a number, got {text!r}"
        ) from None
    if not value > 0 or math.isinf(value):
        raise ComponentConfigError(
            meta.name, "maxRequestsPerSecond", f"must be a positive, finite number, got {text!r}"
        )
    return value


def client_ip(req: Request) -> str:
    """tollbooth's RemoteIP with NewLimiter's lookups: X-Forwarded-For, X-Real-IP, then the peer."""
    forwarded = req.headers.get("x-forwarded-for") or ""
    if forwarded:
        return forwarded.split(",")[-1].strip()
    real = req.headers.get("x-real-ip") or ""
    if real:
        return real
    return req.client[0] if req.client is not None else ""


def remote_addr(req: Request) -> str:
    """Go's ``Request.RemoteAddr``: host:port, IPv6 hosts in brackets; empty when unknown."""
    if req.client is None:
        return ""
    host, port = req.client
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def canonical_ip(ip: str) -> str:
    """tollbooth's CanonicalizeIP: IPv4 as written, IPv6 reduced to its /64 prefix."""
    for c in ip:
        if c == ".":
            return ip
        if c == ":":
            try:
                net = ipaddress.IPv6Network(f"{ip.partition('%')[0]}/64", strict=False)
            except ValueError:
                return ip
            return str(net.network_address)
    return ip


class RateLimitMiddleware(HttpMiddleware):
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock

    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        self.max_requests_per_second = _parse_max(metadata)
        burst = int(max(1.0, self.max_requests_per_second))
        self.buckets = TokenBuckets(self.max_requests_per_second, burst, self._clock)

    def handler(self) -> Middleware:
        buckets = self.buckets
        limit = self.max_requests_per_second
        limit_2f = f"{limit:.2f}"
        limit_int = str(math.floor(limit + 0.5))  # Go's math.Round: halves away from zero

        def rate_headers(headers: Headers, forwarded: str, addr: str, remaining: int) -> None:
            headers.add("x-rate-limit-limit", limit_2f)
            headers.add("x-rate-limit-duration", "1")
            if forwarded.strip():
                headers.add("x-rate-limit-request-forwarded-for", forwarded)
            headers.add("x-rate-limit-request-remote-addr", addr)
            headers.add("ratelimit-limit", limit_int)
            headers.add("ratelimit-reset", "1")
            headers.add("ratelimit-remaining", str(remaining))

        async def limit_rate(req: Request, call_next: Handler) -> Response:
            ip = canonical_ip(client_ip(req))
            if not ip:
                # As Dapr's wrapper: without an address the limiter would skip the request.
                req.headers.set("x-forwarded-for", "0.0.0.0")
                ip = "0.0.0.0"
            # Read before the next step runs: tollbooth writes these headers before calling it.
            forwarded, addr = req.headers.get("x-forwarded-for") or "", remote_addr(req)
            remaining = buckets.take((ip, decoded_path(req.path)))
            if remaining is None:
                resp = text_response(429, LIMIT_MESSAGE)
                rate_headers(resp.headers, forwarded, addr, 0)
                return resp
            resp = await call_next(req)
            rate_headers(resp.headers, forwarded, addr, remaining)
            return resp

        return limit_rate
