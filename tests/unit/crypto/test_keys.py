"""Key files as the localstorage and jwks providers read them: every shape Dapr accepts, the bad ones
with their messages, and key material kept out of reprs and errors."""

from __future__ import annotations

import base64
import datetime
import json
import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.crypto.contract import CryptoProviderError
from pydapr.crypto.jwks import JWKSCrypto
from pydapr.crypto.keys import InvalidKey, Key, parse_key, public_jwk, public_pem, serialize_key
from pydapr.crypto.localstorage import LocalStorageCrypto

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
ED_KEY = ed25519.Ed25519PrivateKey.generate()
PEM = serialization.Encoding.PEM
NO_PASSWORD = serialization.NoEncryption()


def b64url(n: int | bytes, size: int | None = None) -> str:
    raw = n if isinstance(n, bytes) else n.to_bytes(size or (n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def rsa_jwk(private: bool = True) -> dict[str, str]:
    n = RSA_KEY.private_numbers()
    doc = {"kty": "RSA", "n": b64url(n.public_numbers.n), "e": b64url(n.public_numbers.e)}
    if private:
        doc.update(
            d=b64url(n.d),
            p=b64url(n.p),
            q=b64url(n.q),
            dp=b64url(n.dmp1),
            dq=b64url(n.dmq1),
            qi=b64url(n.iqmp),
        )
    return doc


def certificate_pem() -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pydapr test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(EC_KEY.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(EC_KEY, hashes.SHA256())
    )
    return cert.public_bytes(PEM)


PF = serialization.PrivateFormat
PUB = serialization.PublicFormat

SHAPES = [
    ("rsa-pkcs8.pem", RSA_KEY.private_bytes(PEM, PF.PKCS8, NO_PASSWORD), "RSA", True),
    ("rsa-pkcs1", RSA_KEY.private_bytes(PEM, PF.TraditionalOpenSSL, NO_PASSWORD), "RSA", True),
    ("ec-sec1.pem", EC_KEY.private_bytes(PEM, PF.TraditionalOpenSSL, NO_PASSWORD), "EC", True),
    ("ed25519-pkcs8.pem", ED_KEY.private_bytes(PEM, PF.PKCS8, NO_PASSWORD), "OKP", True),
    ("rsa-public.pem", RSA_KEY.public_key().public_bytes(PEM, PUB.SubjectPublicKeyInfo), "RSA", False),
    ("rsa-public-pkcs1.pem", RSA_KEY.public_key().public_bytes(PEM, PUB.PKCS1), "RSA", False),
    ("cert.pem", certificate_pem(), "EC", False),
    ("rsa.json", json.dumps(rsa_jwk()).encode(), "RSA", True),
    ("rsa-public.json", json.dumps(rsa_jwk(private=False)).encode(), "RSA", False),
    (
        "rsa-d-only.json",
        json.dumps({k: v for k, v in rsa_jwk().items() if k in ["kty", "n", "e", "d"]}).encode(),
        "RSA",
        True,
    ),
    ("oct.json", json.dumps({"kty": "oct", "k": b64url(bytes(range(32)))}).encode(), "oct", False),
    ("symmetric-key-256", bytes(range(200, 232)), "oct", False),
    ("symmetric-b64", base64.b64encode(bytes(range(32))) + b"\n", "oct", False),
    ("symmetric-b64url", base64.urlsafe_b64encode(bytes([251] * 24)).rstrip(b"="), "oct", False),
]


@pytest.mark.parametrize(("name", "data", "kty", "private"), SHAPES, ids=[s[0] for s in SHAPES])
async def test_localstorage_reads_every_key_file_shape(
    tmp_path: Path, name: str, data: bytes, kty: str, private: bool
) -> None:
    (tmp_path / name).write_bytes(data)
    provider = LocalStorageCrypto()
    await provider.init(ComponentMetadata("keys", "crypto.dapr.localstorage", "v1", {"path": str(tmp_path)}))
    key = await provider.retrieve_key(name)
    assert (key.kty, key.is_private) == (kty, private)
    assert "BEGIN" not in repr(key) and repr(key).startswith("Key(")


def test_raw_and_encoded_symmetric_keys_give_their_bytes() -> None:
    assert parse_key(bytes(range(200, 232))).secret == bytes(range(200, 232))
    assert parse_key(base64.b64encode(bytes(range(32))) + b"\n").secret == bytes(range(32))
    assert parse_key(base64.urlsafe_b64encode(bytes([251] * 24)).rstrip(b"=")).secret == bytes([251] * 24)
    # 32 bytes that start with "{" are a raw key, not a JWK (Dapr's rule).
    raw = b"{" + bytes(31)
    assert parse_key(raw).secret == raw


def test_jwk_attributes_are_kept_and_public_forms_written() -> None:
    jwk = {**rsa_jwk(), "kid": "k1", "alg": "RS256", "use": "sig"}
    key = parse_key(json.dumps(jwk).encode())
    assert (key.kid, key.alg, key.use) == ("k1", "RS256", "sig")
    doc = public_jwk(key)
    assert list(doc) == sorted(doc) and "d" not in doc
    assert doc == {"alg": "RS256", "e": jwk["e"], "kid": "k1", "kty": "RSA", "n": jwk["n"], "use": "sig"}
    assert public_pem(key).startswith("-----BEGIN PUBLIC KEY-----\n")
    ec_doc = public_jwk(Key.from_object(EC_KEY))
    assert ec_doc["crv"] == "P-256" and len(base64.urlsafe_b64decode(ec_doc["x"] + "=")) == 32
    assert public_jwk(Key.from_object(ED_KEY))["crv"] == "Ed25519"


def test_serialized_keys_are_raw_pkcs8_or_pkix() -> None:
    assert serialize_key(Key.symmetric(b"k" * 16)) == b"k" * 16
    der = serialize_key(Key.from_object(RSA_KEY))
    assert serialization.load_der_private_key(der, None).private_numbers() == RSA_KEY.private_numbers()  # type: ignore[union-attr]
    pub = serialize_key(Key.from_object(EC_KEY.public_key()))
    assert serialization.load_der_public_key(pub).public_numbers() == EC_KEY.public_key().public_numbers()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "key is empty"),
        (b"-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n", "not valid base64"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "does not hold a valid key"),
        (b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", "encrypted"),
        (b"-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n", "unsupported block type 'FOO'"),
        (b"-----BEGIN with no end", "no PEM block found"),
        (b'{"kty": "RSA", "n": "AQAB"', "invalid JSON"),
        (b'{"kty": "DSA", "x": "AQAB", "y": "AQ"}', "invalid key type 'DSA'"),
        (b'{"kty": "EC", "crv": "P-192", "x": "AQ", "y": "AQ"}', "unsupported curve"),
        (b'{"kty": "RSA", "e": "AQAB", "pad": "...."}', "required field 'n' is missing"),
        (b'{"kty": "EC", "crv": "P-256", "x": "AQ", "y": "AQ"}', "invalid EC key"),
    ],
)
def test_bad_key_files_say_why_without_key_material(data: bytes, message: str) -> None:
    with pytest.raises(InvalidKey, match=message) as info:
        parse_key(data)
    assert "AAAA" not in str(info.value)


async def test_localstorage_init_and_lookup_errors(tmp_path: Path) -> None:
    def meta(props: dict[str, str]) -> ComponentMetadata:
        return ComponentMetadata("keys", "crypto.dapr.localstorage", "v1", props, base_dir=tmp_path)

    with pytest.raises(ComponentConfigError, match=r"metadata\.path: is required"):
        await LocalStorageCrypto().init(meta({}))
    with pytest.raises(ComponentConfigError, match="could not stat path 'missing'"):
        await LocalStorageCrypto().init(meta({"path": "missing"}))
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(ComponentConfigError, match="path 'file' is not a directory"):
        await LocalStorageCrypto().init(meta({"path": "file"}))
    # A relative path resolves against the sidecar's working directory.
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "aes").write_bytes(os.urandom(32))
    (tmp_path / "keys" / "bad.pem").write_bytes(b"-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n")
    provider = LocalStorageCrypto()
    await provider.init(meta({"path": "./keys"}))
    assert provider.root == tmp_path / "keys"
    assert (await provider.retrieve_key("aes")).kty == "oct"
    with pytest.raises(CryptoProviderError, match=r"^failed to load key 'nope': no such file$"):
        await provider.retrieve_key("nope")
    with pytest.raises(CryptoProviderError, match=r"cannot contain '\.\.'"):
        await provider.retrieve_key("../file")
    with pytest.raises(CryptoProviderError, match="failed to parse key from secret: failed to parse PEM"):
        await provider.retrieve_key("bad.pem")
    # Symmetric keys have no public part: GetKey reports them as not found, as Dapr does.
    with pytest.raises(CryptoProviderError, match="key not found"):
        await provider.get_key("aes")


def jwks_doc() -> dict[str, list[dict[str, str]]]:
    return {
        "keys": [
            {"kid": "rsa", **rsa_jwk()},
            {"kid": "aes", "kty": "oct", "k": b64url(bytes(range(32)))},
        ]
    }


async def test_jwks_inline_json_base64_and_file(tmp_path: Path) -> None:
    text = json.dumps(jwks_doc())
    (tmp_path / "jwks.json").write_text(text)
    for value in (text, base64.b64encode(text.encode()).decode().rstrip("="), "jwks.json"):
        provider = JWKSCrypto()
        await provider.init(
            ComponentMetadata("j", "crypto.dapr.jwks", "v1", {"jwks": value}, base_dir=tmp_path)
        )
        assert (await provider.retrieve_key("aes")).secret == bytes(range(32))
        assert (await provider.retrieve_key("rsa")).kty == "RSA"
        with pytest.raises(CryptoProviderError, match="key not found"):
            await provider.retrieve_key("other")
        await provider.close()


async def test_jwks_file_is_reread_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [{"kid": "a", "kty": "oct", "k": b64url(b"a" * 16)}]}))
    provider = JWKSCrypto()
    await provider.init(ComponentMetadata("j", "crypto.dapr.jwks", "v1", {"jwks": str(path)}))
    assert (await provider.retrieve_key("a")).secret == b"a" * 16
    path.write_text(json.dumps({"keys": [{"kid": "b", "kty": "oct", "k": b64url(b"b" * 16)}]}))
    os.utime(path, (1, 1))
    assert (await provider.retrieve_key("b")).secret == b"b" * 16


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({}, "empty metadata properties"),
        ({"jwks": ""}, "metadata property 'jwks' is required"),
        ({"jwks": "not json"}, "not a URL, path to local file, or JSON value"),
        ({"jwks": '{"keys": [{"kty": "oct"}]}'}, "not a URL, path to local file, or JSON value"),
        ({"jwks": "{}", "requestTimeout": "soon"}, "requestTimeout"),
        ({"jwks": "http://127.0.0.1:9/jwks", "requestTimeout": "1s"}, "failed to fetch JWKS"),
    ],
)
async def test_jwks_init_errors(props: dict[str, str], message: str) -> None:
    provider = JWKSCrypto()
    with pytest.raises(ComponentConfigError, match=message):
        await provider.init(ComponentMetadata("j", "crypto.dapr.jwks", "v1", props))
    await provider.close()


async def test_jwks_durations_accept_go_durations_and_seconds() -> None:
    provider = JWKSCrypto()
    props = {"jwks": json.dumps(jwks_doc()), "requestTimeout": "1500ms", "minRefreshInterval": "90"}
    await provider.init(ComponentMetadata("j", "crypto.dapr.jwks", "v1", props))
    assert (provider.request_timeout, provider.min_refresh_interval) == (1.5, 90.0)
