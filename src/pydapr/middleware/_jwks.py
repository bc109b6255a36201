"""The JSON Web Key Set behind ``middleware.http.bearer``: fetched, indexed by ``kid``, refreshed.

As Dapr's (lestrrat-go/jwx cache with httprc): refreshed every ``max(10m, Cache-Control max-age or
Expires)``, again 10m after a failed refresh, the last good set kept meanwhile; refreshes run in the
background, so no request waits for one. Unlike Dapr, a token whose ``kid`` is not in the set makes
one fetch (shared by concurrent requests, at most once a minute), so a key rotation is picked up
without waiting for the next scheduled refresh. Key material is never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import jwt

from pydapr.http.client import HttpClient, HttpClientError
from pydapr.http.messages import Headers

log = logging.getLogger("pydapr.middleware.bearer")

MIN_REFRESH_INTERVAL = 600.0
UNKNOWN_KID_COOLDOWN = 60.0
FETCH_TIMEOUT = 30.0
MAX_DOCUMENT = 4 * 1024 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 10

# jwx's AlgorithmsForKey: what a key without "alg" may verify, by key type.
INFERRED_ALGORITHMS: dict[str, tuple[str, ...]] = {
    "RSA": ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
    "EC": ("ES256", "ES384", "ES512", "ES256K"),
    "OKP": ("EdDSA",),
    "oct": ("HS256", "HS384", "HS512"),
}


class FetchError(Exception):
    """The document could not be fetched or read."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    key: Any  # the cryptography key object (bytes for "oct"), as PyJWK prepares it
    algorithms: tuple[str, ...]
    use: str | None


def parse_key_set(doc: object) -> dict[str, SigningKey]:
    """Keys by ``kid`` (the first of a repeated one wins, as jwx's lookup); unusable keys skipped."""
    if isinstance(doc, dict) and "keys" not in doc and "kty" in doc:
        doc = {"keys": [doc]}  # jwx reads a lone JWK as a set of one
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise FetchError("not a JSON Web Key Set (no 'keys' array)")
    keys: dict[str, SigningKey] = {}
    for i, entry in enumerate(doc["keys"]):
        if not isinstance(entry, dict):
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid or kid in keys:
            continue
        try:
            prepared = jwt.PyJWK(entry).key
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            log.debug("JWKS entry %d (kid %r) skipped: %s", i, kid, type(exc).__name__)
            continue
        alg = entry.get("alg")
        algorithms = (alg,) if isinstance(alg, str) and alg else INFERRED_ALGORITHMS.get(entry["kty"], ())
        use = entry.get("use")
        keys[kid] = SigningKey(kid, prepared, algorithms, use if isinstance(use, str) and use else None)
    return keys


def refresh_interval(headers: Headers, *, minimum: float = MIN_REFRESH_INTERVAL) -> float:
    """httprc's calculateRefreshDuration: Cache-Control max-age, else Expires, never under ``minimum``."""
    cache_control = headers.get("cache-control") or ""
    for directive in cache_control.split(","):
        name, _, value = directive.strip().partition("=")
        if name.strip().lower() == "max-age":
            try:
                return max(minimum, float(int(value.strip().strip('"'))))
            except ValueError:
                break
    expires = headers.get("expires")
    if expires:
        try:
            until = parsedate_to_datetime(expires).timestamp() - time.time()
        except (TypeError, ValueError):
            return minimum
        return max(minimum, until)
    return minimum


async def fetch_json(client: HttpClient, url: str, timeout: float = FETCH_TIMEOUT) -> tuple[object, Headers]:
    """GET ``url`` following redirects as Go's default client does; the decoded JSON and the headers."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for _ in range(_MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(f"unsupported URL {url!r}")
        tls = parts.scheme == "https"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            resp = await client.request(
                "GET",
                parts.hostname,
                parts.port or (443 if tls else 80),
                target,
                [("accept", "application/json")],
                timeout=max(0.001, deadline - loop.time()),
                ssl=ssl.create_default_context() if tls else None,
                server_hostname=parts.hostname if tls else None,
            )
        except (HttpClientError, OSError) as exc:
            raise FetchError(f"request to {url} failed: {exc}") from None
        location = resp.headers.get("location")
        if resp.status in _REDIRECTS and location:
            url = urljoin(url, location)
            continue
        if resp.status != 200:
            raise FetchError(f"invalid response status code: {resp.status}")
        try:
            return json.loads(resp.body), resp.headers
        except ValueError as exc:
            raise FetchError(f"failed to decode JSON response: {exc}") from None
    raise FetchError(f"stopped after {_MAX_REDIRECTS} redirects")


class KeySetCache:
    """The key set at ``url``: loaded once by ``load``, then kept fresh as the module docstring says."""

    def __init__(self, client: HttpClient, url: str, clock: Callable[[], float]) -> None:
        self.url = url
        self.keys: dict[str, SigningKey] = {}
        self.next_refresh = 0.0
        self._client = client
        self._clock = clock
        self._attempted_at = float("-inf")
        self._inflight: asyncio.Task[None] | None = None

    async def load(self) -> None:
        """The first fetch; raises ``FetchError`` (the component then fails to start, as Dapr's)."""
        await self._fetch()

    async def _fetch(self) -> None:
        self._attempted_at = self._clock()
        try:
            doc, headers = await fetch_json(self._client, self.url)
            keys = parse_key_set(doc)
        except FetchError:
            self.next_refresh = self._clock() + MIN_REFRESH_INTERVAL
            raise
        self.keys = keys
        self.next_refresh = self._clock() + refresh_interval(headers)

    async def _refresh(self) -> None:
        try:
            await self._fetch()
        except FetchError as exc:
            log.warning("Error while refreshing JWKS cache: %s", exc)

    def _start_refresh(self) -> asyncio.Task[None]:
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.get_running_loop().create_task(self._refresh())
        return self._inflight

    def current(self) -> dict[str, SigningKey]:
        """The keys now; starts a background refresh when one is due."""
        if self._clock() >= self.next_refresh:
            self._start_refresh()
        return self.keys

    async def lookup_unknown(self, kid: str) -> SigningKey | None:
        """A ``kid`` not in the set: refetch once (unless one ran within the cooldown), then look again."""
        if self._inflight is not None and not self._inflight.done():
            await asyncio.shield(self._inflight)
        elif self._clock() - self._attempted_at >= UNKNOWN_KID_COOLDOWN:
            await asyncio.shield(self._start_refresh())
        return self.keys.get(kid)

    async def close(self) -> None:
        task, self._inflight = self._inflight, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
