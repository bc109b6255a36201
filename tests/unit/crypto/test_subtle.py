"""Subtle operations (known-answer vectors, round trips, what each key may do) and the crypto API's
streams and errors over a localstorage provider, without a sidecar."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from pydapr.api.grpc.wire import runtime
from pydapr.components.base import ComponentMetadata
from pydapr.crypto import algorithms as alg
from pydapr.crypto.api import CryptoAPI, DecryptOptions, EncryptOptions
from pydapr.crypto.errors import StreamError
from pydapr.crypto.keys import Key
from pydapr.crypto.localstorage import LocalStorageCrypto
from pydapr.errors import DaprError

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
ED_KEY = ed25519.Ed25519PrivateKey.generate()


def test_aes_key_wrap_rfc3394_vector() -> None:
    kek = Key.symmetric(bytes.fromhex("000102030405060708090A0B0C0D0E0F"))
    wrapped, tag = alg.encrypt(bytes.fromhex("00112233445566778899AABBCCDDEEFF"), "A128KW", kek)
    assert (wrapped.hex().upper(), tag) == ("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5", b"")
    assert alg.decrypt(wrapped, "A128KW", kek).hex().upper() == "00112233445566778899AABBCCDDEEFF"


def test_hchacha20_vector_from_the_xchacha_draft() -> None:
    # draft-irtf-cfrg-xchacha-03 §2.2.1
    key = bytes(range(32))
    nonce = bytes.fromhex("000000090000004a0000000031415927")
    expect = "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc"
    assert alg._hchacha20(key, nonce).hex() == expect


@pytest.mark.parametrize(
    ("name", "key_size", "nonce_size"),
    [
        ("A128GCM", 16, 12),
        ("A256GCM", 32, 12),
        ("A128CBC", 16, 16),
        ("A256CBC", 32, 16),
        ("A128CBC-HS256", 32, 16),
        ("A256CBC-HS512", 64, 16),
        ("C20P", 32, 12),
        ("XC20P", 32, 24),
        ("XC20PKW", 32, 24),
    ],
)
def test_symmetric_round_trips_and_authentication(name: str, key_size: int, nonce_size: int) -> None:
    key = Key.symmetric(os.urandom(key_size))
    nonce, aad = os.urandom(nonce_size), b"context"
    ciphertext, tag = alg.encrypt(b"attack at dawn", name, key, nonce, aad)
    assert alg.decrypt(ciphertext, name, key, nonce, tag, aad) == b"attack at dawn"
    if tag:  # AEAD: a changed tag or associated data is refused
        with pytest.raises(alg.CryptoOperationError, match="message authentication failed"):
            alg.decrypt(ciphertext, name, key, nonce, bytes(len(tag)), aad)
        with pytest.raises(alg.CryptoOperationError, match="message authentication failed"):
            alg.decrypt(ciphertext, name, key, nonce, tag, b"other")
    with pytest.raises(alg.CryptoOperationError, match="invalid nonce"):
        alg.encrypt(b"x", name, key, b"short")
    with pytest.raises(alg.CryptoOperationError, match="key type mismatch"):
        alg.encrypt(b"x", name, Key.symmetric(os.urandom(key_size + 8)), nonce)


@pytest.mark.parametrize("name", ["RSA1_5", "RSA-OAEP", "RSA-OAEP-256", "RSA-OAEP-384", "RSA-OAEP-512"])
def test_rsa_encryption_uses_the_public_half_and_needs_the_private_one(name: str) -> None:
    private = Key.from_object(RSA_KEY)
    ciphertext, _ = alg.encrypt(b"file key", name, private.public())
    assert alg.decrypt(ciphertext, name, private) == b"file key"
    with pytest.raises(alg.CryptoOperationError, match="key type mismatch"):
        alg.decrypt(ciphertext, name, private.public())


def test_oaep_256_is_interoperable_with_a_plain_cryptography_call() -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    ciphertext, _ = alg.encrypt(b"k" * 32, "RSA-OAEP-256", Key.from_object(RSA_KEY))
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    assert RSA_KEY.decrypt(ciphertext, oaep) == b"k" * 32


@pytest.mark.parametrize(
    "name", ["A128CBC-NOPAD", "A256CBC-NOPAD", "A256GCMKW", "ECDH-ES", "ECDH-ES+A256KW", "FOO"]
)
def test_names_dapr_does_not_dispatch_are_unsupported(name: str) -> None:
    with pytest.raises(alg.CryptoOperationError, match="unsupported algorithm"):
        alg.encrypt(bytes(32), name, Key.symmetric(bytes(32)), bytes(16))


@pytest.mark.parametrize(
    ("name", "key", "digest"),
    [
        ("RS256", RSA_KEY, hashlib.sha256(b"m").digest()),
        ("RS512", RSA_KEY, hashlib.sha512(b"m").digest()),
        ("PS256", RSA_KEY, hashlib.sha256(b"m").digest()),
        ("PS384", RSA_KEY, hashlib.sha384(b"m").digest()),
        ("ES256", EC_KEY, hashlib.sha256(b"m").digest()),
        ("EdDSA", ED_KEY, b"the whole message"),
    ],
)
def test_signatures_verify_and_a_wrong_one_is_just_invalid(name: str, key: object, digest: bytes) -> None:
    private = Key.from_object(key)  # type: ignore[arg-type]
    signature = alg.sign(digest, name, private)
    assert alg.verify(digest, signature, name, private.public())
    assert alg.verify(digest, signature, name, private)
    assert not alg.verify(digest, bytes(len(signature)), name, private.public())
    with pytest.raises(alg.CryptoOperationError, match="key type mismatch"):
        alg.sign(digest, name, private.public())


def test_pss_signature_checks_with_cryptography_directly() -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, utils

    digest = hashlib.sha256(b"m").digest()
    signature = alg.sign(digest, "PS256", Key.from_object(RSA_KEY))
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH)
    RSA_KEY.public_key().verify(signature, digest, pss, utils.Prehashed(hashes.SHA256()))


# --- the API over a localstorage provider ---------------------------------------------------------


@pytest.fixture
async def api(tmp_path: Path) -> CryptoAPI:
    (tmp_path / "aes").write_bytes(bytes(range(32)))
    (tmp_path / "rsa.pem").write_bytes(
        RSA_KEY.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (tmp_path / "ec.pem").write_bytes(
        EC_KEY.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    sig_only = {"kty": "oct", "k": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", "use": "sig"}
    (tmp_path / "sig-only.json").write_text(json.dumps(sig_only))
    hs_only = {"kty": "oct", "k": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", "alg": "A256GCM"}
    (tmp_path / "gcm-only.json").write_text(json.dumps(hs_only))
    provider = LocalStorageCrypto()
    await provider.init(ComponentMetadata("keys", "crypto.dapr.localstorage", "v1", {"path": str(tmp_path)}))
    return CryptoAPI({"keys": provider})


async def chunks(data: bytes, size: int = 2048) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def run(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([c async for c in stream])


@pytest.mark.parametrize(("key", "algorithm"), [("aes", "AES"), ("aes", "a256kw"), ("rsa.pem", "RSA")])
@pytest.mark.parametrize("cipher", ["", "aes-gcm", "chacha20-poly1305"])
async def test_api_round_trip(api: CryptoAPI, key: str, algorithm: str, cipher: str) -> None:
    plaintext = os.urandom(150_000)
    opts = EncryptOptions("keys", key, algorithm, data_encryption_cipher=cipher)
    message = await run(api.encrypt(opts, chunks(plaintext)))
    assert await run(api.decrypt(DecryptOptions("keys"), chunks(message, 777))) == plaintext


async def test_api_decryption_key_name_options(api: CryptoAPI) -> None:
    omitted = await run(
        api.encrypt(EncryptOptions("keys", "aes", "AES", omit_decryption_key_name=True), chunks(b"x"))
    )
    with pytest.raises(DaprError, match="does not contain a key name, and no key name was provided"):
        await run(api.decrypt(DecryptOptions("keys"), chunks(omitted)))
    assert await run(api.decrypt(DecryptOptions("keys", "aes"), chunks(omitted))) == b"x"
    named = await run(
        api.encrypt(EncryptOptions("keys", "aes", "AES", decryption_key_name="other"), chunks(b"x"))
    )
    assert b'"k":"other"' in named


async def assert_error(stream: AsyncIterator[bytes], code: str, message: str) -> None:
    with pytest.raises(DaprError) as info:
        await run(stream)
    assert (info.value.code, info.value.message) == (code, message)


async def test_api_errors_are_daprs(api: CryptoAPI) -> None:
    enc = api.encrypt
    await assert_error(
        enc(EncryptOptions("nope", "aes", "AES"), chunks(b"x")),
        "ERR_CRYPTO_PROVIDER_NOT_FOUND",
        "crypto provider nope not found",
    )
    await assert_error(
        enc(EncryptOptions("", "aes", "AES"), chunks(b"x")),
        "ERR_BAD_REQUEST",
        "invalid request: missing component name",
    )
    await assert_error(
        enc(EncryptOptions("keys", "aes", "FOO"), chunks(b"x")),
        "ERR_CRYPTO",
        "failed to perform operation: option Algorithm is not valid: algorithm FOO is not supported",
    )
    await assert_error(
        enc(EncryptOptions("keys", "aes", "AES", data_encryption_cipher="aes-cbc"), chunks(b"x")),
        "ERR_CRYPTO",
        "failed to perform operation: option Cipher is not valid: cipher AES-CBC is not supported",
    )
    await assert_error(
        enc(EncryptOptions("keys", "missing", "AES"), chunks(b"x")),
        "ERR_CRYPTO",
        "failed to perform operation: failed to wrap the file key: "
        "failed to retrieve the key encryption key: failed to load key 'missing': no such file",
    )
    await assert_error(
        enc(EncryptOptions("keys", "aes", "RSA"), chunks(b"x")),
        "ERR_CRYPTO",
        "failed to perform operation: failed to wrap the file key: failed to encrypt data: key type mismatch",
    )
    await assert_error(
        enc(EncryptOptions("keys", "sig-only.json", "AES"), chunks(b"x")),
        "ERR_CRYPTO",
        "failed to perform operation: failed to wrap the file key: "
        "key cannot perform the 'wrapKey' operation",
    )
    await assert_error(
        enc(EncryptOptions("keys", "aes", "A256CBC-NOPAD"), chunks(b"x")),
        "ERR_CRYPTO",
        "failed to perform operation: failed to wrap the file key: "
        "failed to encrypt data: unsupported algorithm",
    )
    await assert_error(
        CryptoAPI({}).encrypt(EncryptOptions("keys", "aes", "AES"), chunks(b"x")),
        "ERR_CRYPTO_PROVIDERS_NOT_CONFIGURED",
        "crypto providers not configured",
    )
    message = await run(enc(EncryptOptions("keys", "aes", "AES"), chunks(b"secret")))
    # A missing key and a wrong key look the same: the header's signature fails.
    for key in ("missing", "rsa.pem"):
        await assert_error(
            api.decrypt(DecryptOptions("keys", key), chunks(message)),
            "ERR_CRYPTO",
            "failed to perform operation: failed to validate the document's signature",
        )
    tampered = message[:-1] + bytes([message[-1] ^ 1])
    with pytest.raises(StreamError) as info:
        await run(api.decrypt(DecryptOptions("keys"), chunks(tampered)))
    assert info.value.reason == "error processing segment 0: failed to decrypt segment"
    await assert_error(
        api.decrypt(DecryptOptions("keys"), chunks(b"")),
        "ERR_CRYPTO",
        "failed to perform operation: invalid header: scheme name not found",
    )


async def test_api_subtle_operations(api: CryptoAPI) -> None:
    pem = await api.subtle_get_key(runtime.SubtleGetKeyRequest(component_name="keys", name="rsa.pem"))
    assert pem.name == "rsa.pem" and pem.public_key.startswith("-----BEGIN PUBLIC KEY-----")
    jwk = await api.subtle_get_key(
        runtime.SubtleGetKeyRequest(component_name="keys", name="ec.pem", format=1)
    )
    assert json.loads(jwk.public_key)["kty"] == "EC" and "d" not in json.loads(jwk.public_key)

    nonce = os.urandom(12)
    enc = await api.subtle_encrypt(
        runtime.SubtleEncryptRequest(
            component_name="keys", plaintext=b"hi", algorithm="A256GCM", key_name="aes", nonce=nonce
        )
    )
    dec = await api.subtle_decrypt(
        runtime.SubtleDecryptRequest(
            component_name="keys",
            ciphertext=enc.ciphertext,
            tag=enc.tag,
            algorithm="A256GCM",
            key_name="aes",
            nonce=nonce,
        )
    )
    assert dec.plaintext == b"hi"

    wrapped = await api.subtle_wrap_key(
        runtime.SubtleWrapKeyRequest(
            component_name="keys", plaintext_key=bytes(16), algorithm="RSA-OAEP-256", key_name="rsa.pem"
        )
    )
    unwrapped = await api.subtle_unwrap_key(
        runtime.SubtleUnwrapKeyRequest(
            component_name="keys",
            wrapped_key=wrapped.wrapped_key,
            algorithm="RSA-OAEP-256",
            key_name="rsa.pem",
        )
    )
    assert unwrapped.plaintext_key == bytes(16)

    digest = hashlib.sha256(b"message").digest()
    sig = await api.subtle_sign(
        runtime.SubtleSignRequest(component_name="keys", digest=digest, algorithm="ES256", key_name="ec.pem")
    )
    for candidate, valid in ((sig.signature, True), (bytes(8), False)):
        res = await api.subtle_verify(
            runtime.SubtleVerifyRequest(
                component_name="keys",
                digest=digest,
                signature=candidate,
                algorithm="ES256",
                key_name="ec.pem",
            )
        )
        assert res.valid is valid


@pytest.mark.parametrize(
    ("call", "request_", "code", "message"),
    [
        (
            "subtle_get_key",
            runtime.SubtleGetKeyRequest(component_name="keys", name="aes"),
            "ERR_CRYPTO_KEY",
            "failed to retrieve key aes: key not found",
        ),
        (
            "subtle_get_key",
            runtime.SubtleGetKeyRequest(component_name="keys", name="rsa.pem", format=7),
            "ERR_BAD_REQUEST",
            "invalid request: invalid key format",
        ),
        (
            "subtle_get_key",
            runtime.SubtleGetKeyRequest(component_name="x", name="aes"),
            "ERR_CRYPTO_PROVIDER_NOT_FOUND",
            "crypto provider x not found",
        ),
        # Causes stay in the debug log: a padding error and a missing key read the same.
        (
            "subtle_decrypt",
            runtime.SubtleDecryptRequest(
                component_name="keys",
                ciphertext=bytes(16),
                algorithm="A256CBC",
                key_name="aes",
                nonce=bytes(16),
            ),
            "ERR_CRYPTO",
            "failed to perform operation: failed to decrypt",
        ),
        (
            "subtle_decrypt",
            runtime.SubtleDecryptRequest(
                component_name="keys",
                ciphertext=bytes(16),
                algorithm="A256CBC",
                key_name="none",
                nonce=bytes(16),
            ),
            "ERR_CRYPTO",
            "failed to perform operation: failed to decrypt",
        ),
        (
            "subtle_encrypt",
            runtime.SubtleEncryptRequest(
                component_name="keys",
                plaintext=b"x",
                algorithm="A128GCM",
                key_name="gcm-only.json",
                nonce=bytes(12),
            ),
            "ERR_CRYPTO",
            "failed to perform operation: failed to encrypt",
        ),
        (
            "subtle_sign",
            runtime.SubtleSignRequest(
                component_name="keys", digest=bytes(32), algorithm="RS256", key_name="ec.pem"
            ),
            "ERR_CRYPTO",
            "failed to perform operation: failed to sign",
        ),
        (
            "subtle_verify",
            runtime.SubtleVerifyRequest(
                component_name="keys", digest=bytes(32), algorithm="HS256", key_name="aes"
            ),
            "ERR_CRYPTO",
            "failed to perform operation: failed to verify signature",
        ),
        (
            "subtle_wrap_key",
            runtime.SubtleWrapKeyRequest(
                component_name="keys", plaintext_key=b"", algorithm="A256KW", key_name="aes"
            ),
            "ERR_CRYPTO",
            "failed to perform operation: failed to parse plaintext key: key is empty",
        ),
        (
            "subtle_unwrap_key",
            runtime.SubtleUnwrapKeyRequest(
                component_name="keys", wrapped_key=bytes(40), algorithm="A256KW", key_name="aes"
            ),
            "ERR_CRYPTO",
            "failed to perform operation: failed to unwrap key",
        ),
    ],
)
async def test_api_subtle_errors(
    api: CryptoAPI, call: str, request_: object, code: str, message: str
) -> None:
    with pytest.raises(DaprError) as info:
        await getattr(api, call)(request_)
    assert (info.value.code, info.value.message) == (code, message)


@pytest.mark.parametrize("op", ["getkey", "encrypt", "decrypt", "wrapkey", "unwrapkey", "sign", "verify"])
async def test_http_subtle_body_that_is_no_utf8_is_a_malformed_request(api: CryptoAPI, op: str) -> None:
    # Found by tests/fuzz/test_http_fuzz.py: such a body answered 500 ERR_INTERNAL (UnicodeDecodeError);
    # daprd's universal handler answers protojson's failure as 400 ERR_MALFORMED_REQUEST.
    from pydapr.api.http.crypto import register
    from pydapr.api.http.router import Router
    from pydapr.http.messages import Request

    router = Router()
    register(router, api)
    path = f"/v1.0-alpha1/subtlecrypto/keys/{op}"
    found = router.match("POST", path)
    assert found is not None
    handler, params = found
    with pytest.raises(DaprError) as info:
        await handler(Request("POST", path, body=b'x\xcbfJ\xff\xfe|'), params)
    assert (info.value.code, info.value.http_status) == ("ERR_MALFORMED_REQUEST", 400)
