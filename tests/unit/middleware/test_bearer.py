"""middleware.http.bearer against a real local JWKS / OIDC discovery server, with keys made here."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from pydapr.components.base import ComponentConfigError
from pydapr.http.messages import Headers
from pydapr.middleware._jwks import refresh_interval
from pydapr.middleware.bearer import BearerMiddleware
from tests.unit.middleware.conftest import Pipeline, metadata

AUDIENCE = "my-client-id"


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Signer:
    kid: str
    private: Any
    public_jwk: dict[str, Any]
    alg: str

    def token(self, issuer: str, *, headers: dict[str, Any] | None = None, **claims: Any) -> str:
        now = int(time.time())
        body: dict[str, Any] = {"iss": issuer, "aud": AUDIENCE, "sub": "user", "iat": now, "exp": now + 60}
        body.update(claims)
        for name in [k for k, v in body.items() if v is None]:
            del body[name]
        hdr = {"kid": self.kid, **(headers or {})}
        return jwt.encode(body, self.private, algorithm=self.alg, headers=hdr)


def rsa_signer(kid: str, *, alg: str | None = "RS256", use: str | None = "sig") -> Signer:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk: dict[str, Any] = {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid}
    if alg:
        jwk["alg"] = alg
    if use:
        jwk["use"] = use
    return Signer(kid, key, jwk, alg or "RS256")


def ec_signer(kid: str) -> Signer:
    key = ec.generate_private_key(ec.SECP256R1())
    return Signer(kid, key, {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid}, "ES256")


def ed_signer(kid: str) -> Signer:
    key = ed25519.Ed25519PrivateKey.generate()
    return Signer(kid, key, {**OKPAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid}, "EdDSA")


@pytest.fixture(scope="module")
def key_a() -> Signer:
    return rsa_signer("key-a")


@pytest.fixture(scope="module")
def key_b() -> Signer:
    return rsa_signer("key-b")


@dataclass
class IdP:
    """A local identity provider: the JWKS at /jwks, OIDC discovery under /, what it was asked."""

    base: str = ""
    keys: list[dict[str, Any]] = field(default_factory=list)
    jwks_status: int = 200
    jwks_headers: dict[str, str] = field(default_factory=dict)
    discovery: dict[str, Any] | None = None
    discovery_status: int = 200
    hits: dict[str, int] = field(default_factory=dict)

    @property
    def issuer(self) -> str:
        return self.base

    @property
    def jwks_url(self) -> str:
        return f"{self.base}/jwks"

    def serve(self, *signers: Signer) -> None:
        self.keys = [s.public_jwk for s in signers]

    async def wait_for_hits(self, path: str, count: int) -> None:
        for _ in range(200):
            if self.hits.get(path, 0) >= count:
                await asyncio.sleep(0.02)  # let the fetch that was counted finish
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{path} fetched {self.hits.get(path, 0)} times, expected {count}")


@pytest.fixture
async def idp() -> AsyncIterator[IdP]:
    state = IdP()

    def count(request: web.Request) -> None:
        state.hits[request.path] = state.hits.get(request.path, 0) + 1

    async def jwks(request: web.Request) -> web.Response:
        count(request)
        if state.jwks_status != 200:
            return web.Response(status=state.jwks_status, text="nope")
        return web.json_response({"keys": state.keys}, headers=state.jwks_headers)

    async def discovery(request: web.Request) -> web.Response:
        count(request)
        if state.discovery_status != 200:
            return web.Response(status=state.discovery_status)
        doc = (
            state.discovery
            if state.discovery is not None
            else {"issuer": state.issuer, "jwks_uri": state.jwks_url}
        )
        return web.json_response(doc)

    async def moved(request: web.Request) -> web.Response:
        count(request)
        raise web.HTTPFound("/jwks")

    app = web.Application()
    app.router.add_get("/jwks", jwks)
    app.router.add_get("/moved", moved)
    app.router.add_get("/.well-known/openid-configuration", discovery)
    app.router.add_get("/tenant/.well-known/openid-configuration", discovery)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield state
    finally:
        await runner.cleanup()


class Bearer:
    """A started bearer middleware in a pipeline; closed by the fixture."""

    def __init__(self) -> None:
        self.opened: list[BearerMiddleware] = []

    async def start(self, clock: Clock | None = None, **props: str) -> tuple[BearerMiddleware, Pipeline]:
        mw = BearerMiddleware(clock=clock or Clock())
        self.opened.append(mw)
        await mw.init(metadata("bearer", **props))
        return mw, Pipeline(mw)


@pytest.fixture
async def bearer() -> AsyncIterator[Bearer]:
    b = Bearer()
    try:
        yield b
    finally:
        for mw in b.opened:
            await mw.close()


def auth(token: str, scheme: str = "Bearer") -> list[tuple[str, str]]:
    return [("authorization", f"{scheme} {token}")]


async def expect_401(p: Pipeline, headers: list[tuple[str, str]] | None) -> None:
    resp = await p.send(headers=headers)
    assert resp.status == 401
    assert resp.body == b"Unauthorized"
    assert resp.headers.get("content-type") == "text/plain; charset=utf-8"


# --- accepted ------------------------------------------------------------------------------------
async def test_valid_token_passes_unchanged(idp: IdP, bearer: Bearer, key_a: Signer) -> None:
    idp.serve(key_a)
    mw, p = await bearer.start(issuer=idp.issuer, audience=AUDIENCE, jwksURL=idp.jwks_url)
    token = key_a.token(idp.issuer)
    resp = await p.send(headers=auth(token), body=b"payload")
    assert resp.status == 200
    assert p.echo.last.headers.get("authorization") == f"Bearer {token}"
    assert p.echo.last.body == b"payload"
    assert mw.jwks_url == idp.jwks_url
    assert idp.hits == {"/jwks": 1}


async def test_scheme_is_case_insensitive_and_audience_may_be_a_list(
    idp: IdP, bearer: Bearer, key_a: Signer
) -> None:
    idp.serve(key_a)
    _, p = await bearer.start(issuer=idp.issuer, audience=AUDIENCE, jwksURL=idp.jwks_url)
    token = key_a.token(idp.issuer, aud=["other", AUDIENCE])
    assert (await p.send(headers=auth(token, "bEaReR"))).status == 200


@pytest.mark.parametrize("make", [ec_signer, ed_signer], ids=["ES256", "EdDSA"])
async def test_algorithm_inferred_from_keys_without_alg(idp: IdP, bearer: Bearer, make: Any) -> None:
    signer = make("k1")
    idp.serve(signer)
    _, p = await bearer.start(issuer=idp.issuer, audience=AUDIENCE, jwksURL=idp.jwks_url)
    assert (await p.send(headers=auth(signer.token(idp.issuer)))).status == 200


async def test_rsa_key_without_alg_accepts_ps256(idp: IdP, bearer: Bearer) -> None:
    signer = rsa_signer("ps", alg=None, use=None)
    signer.alg = "PS256"
    idp.serve(signer)
    _, p = await bearer.start(issuer=idp.issuer, audience=AUDIENCE, jwksURL=idp.jwks_url)
    assert (await p.send(headers=auth(signer.token(idp.issuer)))).status == 200


async def test_clock_skew_of_five_minutes(idp: IdP, bearer: Bearer, key_a: Signer) -> None:
    idp.serve(key_a)
    _, p = await bearer.start(issuer=idp.issuer, audience=AUDIENCE, jwksURL=idp.jwks_url)
    now = int(time.time())
    assert (await p.send(headers=auth(key_a.token(idp.issuer, exp=now - 240)))).status == 200
    assert (await p.send(headers=auth(key_a.token(idp.issuer, nbf=now + 240, iat=now + 240)))).status == 200


# --- rejected ------------------------------------------------------------------------------------
async def test_missing_or_malformed_header(idp: IdP, bearer: Bearer, key_a: Signer) -> None:
    idp.serve(key_a)
    _, p = await bearer.start(issuer=idp.issuer, audience=AUDIENCE, jwksURL=idp.jwks_url)
    token = key_a.token(idp.issuer)
    await expect_401(p, None)
    await expect_401(p, auth(token, "Basic"))
    await expect_401(p, [("authorization", "Bearer")])
    await expect_401(p, auth("short"))
    await expect_401(p, auth("not.a.jwt-at-all"))
    await expect_401(p, auth(" " + token))  # the token is what follows "Bearer " exactly
    assert p.echo.seen == []


async def test_expired(idp: IdP, bearer: Bearer, key_a: Signer) -> None:
    idp.serve(key_a)
    _, p = await bearer.start(issuer=idp.issuer, audience=AUDIENCE, jwksURL=idp.jwks_url)
    now = int(time.time())
    await expect_401(p, auth(key_a.token(idp.issuer, iat=now - 1000, exp=now - 301)))


async def test_not_yet_valid(idp: IdP, bearer: Bearer, key_a: Signer) -> None:
    idp.serve(key_a)
    _, p = await bearer.start(issuer=idp.issuer, audience=AUDIENCE, jwksURL=idp.jwks_url)
    now = int(time.time())
    await expect_401(p, auth(key_a.token(idp.issuer, nbf=now + 400)))
    await expect_401(p, auth(key_a.token(idp.issuer, iat=now + 400, exp=now + 1000)))


async def test_wrong_or_missing_audience(idp: IdP, bearer: Bearer, key_a: Signer) -> None:
    idp.serve(key_a)
    _, p = await bearer.start(issuer=idp.issuer, audience=AUDIENCE, jwksURL=idp.jwks_url)
    await expect_401(p, auth(key_a.token(idp.issuer, aud="someone-else")))
    await expect_401(p, auth(key_a.token(idp.issuer, aud=None)))


async def test_wrong_or_missing_issuer(idp: IdP, bearer: Bearer, key_a: Signer) -> None:
    idp.serve(key_a)
    _, p = await bearer.start(issuer=idp.issuer, audience=AUDIENCE, jwksURL=idp.jwks_url)
    await expect_401(p, auth(key_a.token("https://evil.example")))
    await expect_401(p, auth(key_a.token(idp.issuer + "/")))  # compared exactly
    await expect_401(p, auth(key_a.token(idp.issuer[:-1])))  # never a substring match
    await expect_401(p, auth(key_a.token(idp.issuer, iss=None)))


async def test_unknown_or_missing_kid(idp: IdP, bearer: Bearer, key_a: Signer, key_b: Signer) -> None:
    idp.serve(key_a)
    _, p = await bearer.start(issuer=idp.issuer, audience=AUDIENCE, jwksURL=idp.jwks_url)
    await expect_401(p, auth(key_b.token(idp.issuer)))
    no_kid = jwt.encode({"iss": idp.issuer, "aud": AUDIENCE}, key_a.private, algorithm="RS256")
    await expect_401(p, auth(no_kid))


async def test_signature_by_another_key_under_a_known_kid(idp: IdP, bearer: Bearer, key_a: Signer) -> None:
    idp.serve(key_a)
    _, p = await bearer.start(issuer=idp.issuer, audience=AUDIENCE, jwksURL=idp.jwks_url)
    forger = rsa_signer("key-a")
    await expect_401(p, auth(forger.token(idp.issuer)))


async def test_algorithm_must_be_the_keys(idp: IdP, bearer: Bearer, key_a: Signer) -> None:
    enc_key = rsa_signer("enc", use="enc")
    idp.serve(key_a, enc_key)
    _, p = await bearer.start(issuer=idp.issuer, audience=AUDIENCE, jwksURL=idp.jwks_url)
    claims = {"iss": idp.issuer, "aud": AUDIENCE}
    # the key says RS256: PS256 with the same key is refused, so is "none"
    await expect_401(p, auth(jwt.encode(claims, key_a.private, algorithm="PS256", headers={"kid": "key-a"})))
    await expect_401(p, auth(jwt.encode(claims, None, algorithm="none", headers={"kid": "key-a"})))
    # an encryption key never verifies a signature
    await expect_401(p, auth(enc_key.token(idp.issuer)))


async def test_hmac_with_the_public_key_is_refused(idp: IdP, bearer: Bearer) -> None:
    signer = rsa_signer("noalg", alg=None)
    idp.serve(signer)
    _, p = await bearer.start(issuer=idp.issuer, audience=AUDIENCE, jwksURL=idp.jwks_url)
    secret = signer.public_jwk["n"].encode()  # public material as the HMAC secret
    forged = jwt.encode(
        {"iss": idp.issuer, "aud": AUDIENCE}, secret, algorithm="HS256", headers={"kid": "noalg"}
    )
    await expect_401(p, auth(forged))


# --- JWKS cache and rotation ---------------------------------------------------------------------
async def test_rotation_picked_up_on_an_unknown_kid(
    idp: IdP, bearer: Bearer, key_a: Signer, key_b: Signer
) -> None:
    clock = Clock()
    idp.serve(key_a)
    _, p = await bearer.start(clock, issuer=idp.issuer, audience=AUDIENCE, jwksURL=idp.jwks_url)
    idp.serve(key_b)  # the provider rotates: key-a retired, key-b signs
    # within a minute of the last fetch an unknown kid does not fetch again
    await expect_401(p, auth(key_b.token(idp.issuer)))
    assert idp.hits["/jwks"] == 1
    assert (await p.send(headers=auth(key_a.token(idp.issuer)))).status == 200  # still the cached set
    clock.now += 61
    # concurrent requests with the new kid share one fetch
    results = await asyncio.gather(*(p.send(headers=auth(key_b.token(idp.issuer))) for _ in range(5)))
    assert [r.status for r in results] == [200] * 5
    assert idp.hits["/jwks"] == 2
    await expect_401(p, auth(key_a.token(idp.issuer)))  # the retired key is gone
    assert idp.hits["/jwks"] == 2


async def test_scheduled_refresh_in_the_background(
    idp: IdP, bearer: Bearer, key_a: Signer, key_b: Signer
) -> None:
    clock = Clock()
    idp.serve(key_a)
    _, p = await bearer.start(clock, issuer=idp.issuer, audience=AUDIENCE, jwksURL=idp.jwks_url)
    idp.serve(key_a, key_b)
    clock.now += 599
    assert (await p.send(headers=auth(key_a.token(idp.issuer)))).status == 200
    assert idp.hits["/jwks"] == 1
    clock.now += 1
    # due: this request is served from the cached set while the refresh runs
    assert (await p.send(headers=auth(key_a.token(idp.issuer)))).status == 200
    await idp.wait_for_hits("/jwks", 2)
    idp.jwks_status = 500
    clock.now += 5  # within the unknown-kid cooldown of the refresh: no fetch needed for key-b
    assert (await p.send(headers=auth(key_b.token(idp.issuer)))).status == 200
    assert idp.hits["/jwks"] == 2


async def test_failed_refresh_keeps_the_last_good_set(
    idp: IdP, bearer: Bearer, key_a: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    idp.serve(key_a)
    _, p = await bearer.start(clock, issuer=idp.issuer, audience=AUDIENCE, jwksURL=idp.jwks_url)
    idp.jwks_status = 503
    clock.now += 600
    with caplog.at_level(logging.WARNING, "pydapr.middleware.bearer"):
        assert (await p.send(headers=auth(key_a.token(idp.issuer)))).status == 200
        await idp.wait_for_hits("/jwks", 2)
    assert "Error while refreshing JWKS cache: invalid response status code: 503" in caplog.text
    assert (await p.send(headers=auth(key_a.token(idp.issuer)))).status == 200
    clock.now += 599  # the next attempt is 10 minutes after the failed one
    await p.send(headers=auth(key_a.token(idp.issuer)))
    assert idp.hits["/jwks"] == 2


def test_refresh_interval_follows_cache_headers_never_under_ten_minutes() -> None:
    assert refresh_interval(Headers()) == 600
    assert refresh_interval(Headers([("cache-control", "public, max-age=3600")])) == 3600
    assert refresh_interval(Headers([("cache-control", "max-age=60")])) == 600
    assert refresh_interval(Headers([("cache-control", "max-age=soon")])) == 600
    later = formatdate(time.time() + 7200, usegmt=True)
    assert 7190 < refresh_interval(Headers([("expires", later)])) <= 7200
    assert refresh_interval(Headers([("expires", "garbage")])) == 600


async def test_jwks_redirect_followed(idp: IdP, bearer: Bearer, key_a: Signer) -> None:
    idp.serve(key_a)
    _, p = await bearer.start(issuer=idp.issuer, audience=AUDIENCE, jwksURL=f"{idp.base}/moved")
    assert (await p.send(headers=auth(key_a.token(idp.issuer)))).status == 200
    assert idp.hits == {"/moved": 1, "/jwks": 1}


async def test_keys_and_tokens_never_logged(
    idp: IdP, bearer: Bearer, key_a: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    odd = {"kty": "RSA", "kid": "broken", "n": "AAAAsecretish", "e": "AQAB", "alg": "RS999"}
    idp.keys = [key_a.public_jwk, odd]
    with caplog.at_level(logging.DEBUG):
        _, p = await bearer.start(issuer=idp.issuer, audience=AUDIENCE, jwksURL=idp.jwks_url)
        token = key_a.token(idp.issuer, aud="wrong")
        await p.send(headers=auth(token))
    assert key_a.public_jwk["n"] not in caplog.text
    assert "AAAAsecretish" not in caplog.text
    assert token not in caplog.text


# --- OpenID Connect discovery --------------------------------------------------------------------
async def test_jwks_url_from_discovery(idp: IdP, bearer: Bearer, key_a: Signer) -> None:
    idp.serve(key_a)
    mw, p = await bearer.start(issuer=idp.issuer, audience=AUDIENCE)
    assert mw.jwks_url == idp.jwks_url
    assert idp.hits == {"/.well-known/openid-configuration": 1, "/jwks": 1}
    assert (await p.send(headers=auth(key_a.token(idp.issuer)))).status == 200


async def test_discovery_under_an_issuer_path_with_trailing_slash(
    idp: IdP, bearer: Bearer, key_a: Signer
) -> None:
    idp.serve(key_a)
    issuer = f"{idp.base}/tenant/"
    idp.discovery = {"ISSUER": issuer, "jwks_uri": idp.jwks_url}  # Go's JSON: names match any case
    _, p = await bearer.start(issuer=issuer, audience=AUDIENCE)
    assert idp.hits["/tenant/.well-known/openid-configuration"] == 1
    assert (await p.send(headers=auth(key_a.token(issuer)))).status == 200


@pytest.mark.parametrize(
    ("discovery", "status", "problem"),
    [
        (None, 404, "invalid response status code: 404"),
        ({"issuer": "ISSUER"}, 200, "the OpenID Configuration document does not contain a 'jwks_uri'"),
        (
            {"issuer": "https://other", "jwks_uri": "JWKS"},
            200,
            "the issuer found in the OpenID Configuration document ('https://other') doesn't match "
            "the one provided in the component's metadata ('ISSUER')",
        ),
    ],
)
async def test_discovery_failures(
    idp: IdP, bearer: Bearer, discovery: dict[str, str] | None, status: int, problem: str
) -> None:
    if discovery is not None:
        idp.discovery = {
            k: v.replace("ISSUER", idp.issuer).replace("JWKS", idp.jwks_url) for k, v in discovery.items()
        }
    idp.discovery_status = status
    with pytest.raises(ComponentConfigError) as info:
        await bearer.start(issuer=idp.issuer, audience=AUDIENCE)
    expected = f"metadata.issuer: failed to retrieve OpenID Configuration document: {problem}"
    assert str(info.value) == expected.replace("ISSUER", idp.issuer)
    assert info.value.field_name == "issuer"


async def test_jwks_unreachable_at_init(idp: IdP, bearer: Bearer) -> None:
    idp.jwks_status = 500
    with pytest.raises(ComponentConfigError) as info:
        await bearer.start(issuer=idp.issuer, audience=AUDIENCE, jwksURL=idp.jwks_url)
    assert str(info.value) == "metadata.jwksURL: failed to fetch JWKS: invalid response status code: 500"
    with pytest.raises(ComponentConfigError) as info:
        await bearer.start(issuer=idp.issuer, audience=AUDIENCE, jwksURL="ftp://example/jwks")
    assert str(info.value) == "metadata.jwksURL: failed to fetch JWKS: unsupported URL 'ftp://example/jwks'"


async def test_jwks_that_is_not_a_key_set(idp: IdP, bearer: Bearer) -> None:
    idp.discovery = {"issuer": idp.issuer, "jwks_uri": f"{idp.base}/.well-known/openid-configuration"}
    with pytest.raises(ComponentConfigError) as info:
        await bearer.start(issuer=idp.issuer, audience=AUDIENCE)
    assert (
        str(info.value) == "metadata.jwksURL: failed to fetch JWKS: not a JSON Web Key Set (no 'keys' array)"
    )


# --- metadata ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"audience": "foo"}, "metadata.issuer: is required"),
        ({"issuer": "http://localhost"}, "metadata.audience: is required"),
        ({"issuer": "", "audience": "foo"}, "metadata.issuer: is required"),
    ],
)
async def test_bad_metadata(props: dict[str, str], message: str) -> None:
    with pytest.raises(ComponentConfigError) as info:
        await BearerMiddleware().init(metadata("bearer", **props))
    assert str(info.value) == message


async def test_aliases_issuer_url_and_client_id(idp: IdP, bearer: Bearer, key_a: Signer) -> None:
    idp.serve(key_a)
    mw, p = await bearer.start(issuerURL=idp.issuer, clientID=AUDIENCE, jwksURL=idp.jwks_url)
    assert (mw.issuer, mw.audience) == (idp.issuer, AUDIENCE)
    assert (await p.send(headers=auth(key_a.token(idp.issuer)))).status == 200
    mw, _ = await bearer.start(
        issuer=idp.issuer, issuerURL="http://other", audience=AUDIENCE, clientID="bar", jwksURL=idp.jwks_url
    )
    assert (mw.issuer, mw.audience) == (idp.issuer, AUDIENCE)
