"""``middleware.http.bearer``: lets a request through only with a valid ``Authorization: Bearer`` JWT.

As components-contrib's: metadata ``issuer`` (alias ``issuerURL``) and ``audience`` (alias
``clientID``) are required; ``jwksURL`` is optional — without it the JWKS address is the
``jwks_uri`` of ``<issuer>/.well-known/openid-configuration``, whose ``issuer`` must equal the
configured one exactly. Both are fetched at init (failure fails the component). A token must name
a ``kid`` found in the set, use an algorithm the key allows (its ``alg``, else every algorithm of its
key type), verify, carry the issuer and the audience, and be within ``exp``/``nbf``/``iat`` with five
minutes of clock skew. Anything else — no header, another scheme, a token under 10 characters — is
answered 401 ``Unauthorized`` (text/plain); a valid request passes unchanged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import jwt

from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.http.client import HttpClient
from pydapr.http.messages import Request, Response
from pydapr.middleware._jwks import MAX_DOCUMENT, FetchError, KeySetCache, SigningKey, fetch_json
from pydapr.middleware.contract import Handler, HttpMiddleware, Middleware, status_response

log = logging.getLogger("pydapr.middleware.bearer")

BEARER_PREFIX = "bearer "
ALLOWED_CLOCK_SKEW = 300.0
DISCOVERY_TIMEOUT = 30.0
MIN_TOKEN_LENGTH = 10


class BearerMiddleware(HttpMiddleware):
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._client: HttpClient | None = None
        self._cache: KeySetCache | None = None

    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        # As kit's alias decoding: the main name wins when both are given.
        self.issuer = metadata.get("issuer") or metadata.get("issuerURL") or ""
        self.audience = metadata.get("audience") or metadata.get("clientID") or ""
        if not self.issuer:
            raise ComponentConfigError(metadata.name, "issuer", "is required")
        if not self.audience:
            raise ComponentConfigError(metadata.name, "audience", "is required")
        self._client = HttpClient(connect_timeout=DISCOVERY_TIMEOUT, max_response_body=MAX_DOCUMENT)
        try:
            jwks_url = metadata.get("jwksURL") or await self._discover_jwks_url()
            if jwks_url.startswith("http://"):
                log.warning("%s: fetching the JWKS over HTTP without TLS is not recommended", metadata.name)
            self._cache = KeySetCache(self._client, jwks_url, self._clock)
            try:
                await self._cache.load()
            except FetchError as exc:
                raise ComponentConfigError(metadata.name, "jwksURL", f"failed to fetch JWKS: {exc}") from None
        except BaseException:
            await self.close()
            raise
        self.jwks_url = jwks_url

    async def _discover_jwks_url(self) -> str:
        assert self._client is not None
        url = self.issuer.removesuffix("/") + "/.well-known/openid-configuration"

        def fail(problem: str) -> ComponentConfigError:
            return ComponentConfigError(
                self.metadata.name, "issuer", f"failed to retrieve OpenID Configuration document: {problem}"
            )

        try:
            doc, _ = await fetch_json(self._client, url, DISCOVERY_TIMEOUT)
        except FetchError as exc:
            raise fail(str(exc)) from None
        if not isinstance(doc, dict):
            raise fail("failed to decode JSON response: not an object")
        # Go's encoding/json: field names match case-insensitively, the last occurrence wins.
        found: dict[str, object] = {}
        for key, value in doc.items():
            if key.lower() in ("issuer", "jwks_uri") and value is not None:
                found[key.lower()] = value
        issuer, jwks_uri = found.get("issuer", ""), found.get("jwks_uri", "")
        if not isinstance(issuer, str) or not isinstance(jwks_uri, str):
            raise fail("failed to decode JSON response: 'issuer' and 'jwks_uri' must be strings")
        if not jwks_uri:
            raise fail("the OpenID Configuration document does not contain a 'jwks_uri'")
        if issuer != self.issuer:
            raise fail(
                f"the issuer found in the OpenID Configuration document ('{issuer}') doesn't match "
                f"the one provided in the component's metadata ('{self.issuer}')"
            )
        return jwks_uri

    async def close(self) -> None:
        cache, self._cache = self._cache, None
        if cache is not None:
            await cache.close()
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    def handler(self) -> Middleware:
        cache = self._cache
        assert cache is not None, "handler() before init()"
        issuer, audience = self.issuer, self.audience

        def verify(token: str, key: SigningKey, alg: str) -> bool:
            if key.use is not None and key.use != "sig":
                return False
            if alg not in key.algorithms:
                return False
            try:
                jwt.decode(
                    token,
                    key.key,
                    algorithms=[alg],
                    audience=audience,
                    issuer=issuer,
                    leeway=ALLOWED_CLOCK_SKEW,
                )
            except (jwt.PyJWTError, ValueError, TypeError):
                return False
            return True

        async def authenticate(req: Request, call_next: Handler) -> Response:
            auth = req.headers.get("authorization") or ""
            if len(auth) < len(BEARER_PREFIX) + 1 or auth[: len(BEARER_PREFIX)].lower() != BEARER_PREFIX:
                return status_response(401)
            token = auth[len(BEARER_PREFIX) :]
            if len(token) < MIN_TOKEN_LENGTH:
                return status_response(401)
            try:
                header = jwt.get_unverified_header(token)
            except jwt.PyJWTError:
                return status_response(401)
            kid, alg = header.get("kid"), header.get("alg")
            if not isinstance(kid, str) or not kid or not isinstance(alg, str):
                return status_response(401)
            key = cache.current().get(kid)
            if key is None:
                key = await cache.lookup_unknown(kid)
                if key is None:
                    return status_response(401)
            if not verify(token, key, alg):
                return status_response(401)
            return await call_next(req)

        return authenticate
