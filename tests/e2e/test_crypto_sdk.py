"""Cryptography end to end: the official SDK (sync and async) and plain HTTP against a real sidecar.

The keys have the shapes the SDK's own integration suite writes (tests/crypto_utils.py in
dapr/python-sdk): a 4096-bit RSA private key as PKCS#8 PEM and 32 raw random bytes, in a folder the
component names by a path relative to the sidecar's working directory (its cryptostore.yaml).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import secrets
import time
import urllib.error
import urllib.request
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from dapr.aio.clients import DaprClient as AsyncDaprClient
from dapr.clients import DaprClient
from dapr.clients.grpc._crypto import DecryptOptions, EncryptOptions
from dapr.proto.runtime.v1 import dapr_pb2_grpc

from pydapr.api.grpc.wire import runtime
from tests.e2e.harness import Processes, Sidecar

# The SDK warns that the crypto API is alpha on every call.
pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::UserWarning")]

CRYPTO_COMPONENT = "cryptostore"
RSA_KEY = "rsa-private-key.pem"
SYMMETRIC_KEY = "symmetric-key-256"

COMPONENTS = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: cryptostore
spec:
  type: crypto.dapr.localstorage
  version: v1
  metadata:
    - name: path
      value: ./keys
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: jwkstore
spec:
  type: crypto.dapr.jwks
  metadata:
    - name: jwks
      value: '{jwks}'
"""


@functools.cache
def _key_files() -> dict[str, bytes]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    return {
        RSA_KEY: rsa_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        SYMMETRIC_KEY: secrets.token_bytes(32),
        "ec-key.pem": ec_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    }


def _jwks() -> str:
    oct_key = base64.urlsafe_b64encode(_key_files()[SYMMETRIC_KEY]).rstrip(b"=").decode()
    return json.dumps({"keys": [{"kid": "aes-jwk", "kty": "oct", "k": oct_key, "use": "enc"}]})


def _sidecar(procs: Processes, app_id: str = "crypto-app") -> Sidecar:
    keys = procs.workdir / "keys"
    keys.mkdir(exist_ok=True)
    for name, data in _key_files().items():
        (keys / name).write_bytes(data)
    resources = procs.workdir / "resources"
    resources.mkdir(exist_ok=True)
    (resources / "crypto.yaml").write_text(COMPONENTS.replace("{jwks}", _jwks()))
    return procs.sidecar(app_id, resources=resources)


def _encrypt_opts(key: str = RSA_KEY, algorithm: str = "RSA", **kw: Any) -> EncryptOptions:
    return EncryptOptions(component_name=CRYPTO_COMPONENT, key_name=key, key_wrap_algorithm=algorithm, **kw)


def _rpc_error(call: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value


def test_sdk_suite_cases_and_more(procs: Processes, dapr_settings: Any) -> None:
    """The cases of python-sdk tests/integration/test_crypto.py, then larger and optioned ones."""
    sidecar = _sidecar(procs)
    dapr_settings(sidecar)
    with DaprClient() as client:
        # test_rsa_round_trip
        encrypted = client.encrypt(data=b"sync crypto secret", options=_encrypt_opts()).read()
        assert encrypted != b"sync crypto secret" and encrypted.startswith(b"dapr.io/enc/v1\n")
        decrypted = client.decrypt(data=encrypted, options=DecryptOptions(CRYPTO_COMPONENT, RSA_KEY)).read()
        assert decrypted == b"sync crypto secret"
        # test_aes_round_trip
        plaintext = b"A" * (32 * 1024)
        encrypted = client.encrypt(data=plaintext, options=_encrypt_opts(SYMMETRIC_KEY, "AES")).read()
        assert (
            client.decrypt(data=encrypted, options=DecryptOptions(CRYPTO_COMPONENT, SYMMETRIC_KEY)).read()
            == plaintext
        )
        # test_string_input_round_trip
        encrypted = client.encrypt(data="hello dapr crypto", options=_encrypt_opts()).read()
        assert client.decrypt(
            data=encrypted, options=DecryptOptions(CRYPTO_COMPONENT, RSA_KEY)
        ).read().decode() == ("hello dapr crypto")
        # test_encrypt/decrypt_with_blank_component_raises (checked by the SDK before any call)
        with pytest.raises(ValueError):
            client.encrypt(data=b"payload", options=EncryptOptions("", RSA_KEY, "RSA"))
        with pytest.raises(ValueError):
            client.decrypt(data=b"payload", options=DecryptOptions(component_name="", key_name=RSA_KEY))

        # Several segments, ChaCha20-Poly1305, key name taken from the manifest.
        plaintext = os.urandom(1024 * 1024 + 7)
        opts = _encrypt_opts(SYMMETRIC_KEY, "A256KW", data_encryption_cipher="chacha20-poly1305")
        encrypted = client.encrypt(data=plaintext, options=opts).read()
        assert len(encrypted) > len(plaintext) + 17 * 16
        assert client.decrypt(data=encrypted, options=DecryptOptions(CRYPTO_COMPONENT)).read() == plaintext

        # Omitting the key name means decryption must name it.
        opts = _encrypt_opts(omit_decryption_key_name=True)
        encrypted = client.encrypt(data=b"no name", options=opts).read()
        assert b'"k":' not in encrypted.split(b"\n")[1]
        err = _rpc_error(
            lambda: client.decrypt(data=encrypted, options=DecryptOptions(CRYPTO_COMPONENT)).read()
        )
        assert err.code() == grpc.StatusCode.INTERNAL
        assert "does not contain a key name, and no key name was provided" in err.details()
        assert (
            client.decrypt(data=encrypted, options=DecryptOptions(CRYPTO_COMPONENT, RSA_KEY)).read()
            == b"no name"
        )

        # A key from the JWKS component wraps; the localstorage copy of the same bytes unwraps.
        opts = EncryptOptions(component_name="jwkstore", key_name="aes-jwk", key_wrap_algorithm="AES")
        encrypted = client.encrypt(data=b"across components", options=opts).read()
        decrypted = client.decrypt(
            data=encrypted, options=DecryptOptions(CRYPTO_COMPONENT, SYMMETRIC_KEY)
        ).read()
        assert decrypted == b"across components"


async def test_async_client_round_trips(procs: Processes, dapr_settings: Any) -> None:
    """python-sdk tests/integration/test_crypto_async.py."""
    sidecar = _sidecar(procs, "crypto-async")
    dapr_settings(sidecar)
    async with AsyncDaprClient(address=f"127.0.0.1:{sidecar.grpc_port}") as d:
        for key, algorithm, plaintext in (
            (RSA_KEY, "RSA", b"async crypto secret"),
            (SYMMETRIC_KEY, "AES", b"A" * 32768),
        ):
            stream = await d.encrypt(data=plaintext, options=_encrypt_opts(key, algorithm))
            encrypted = await stream.read()
            stream = await d.decrypt(data=encrypted, options=DecryptOptions(CRYPTO_COMPONENT, key))
            assert await stream.read() == plaintext


def test_sdk_sees_daprs_errors(procs: Processes, dapr_settings: Any) -> None:
    sidecar = _sidecar(procs, "crypto-errors")
    dapr_settings(sidecar)
    internal, invalid = grpc.StatusCode.INTERNAL, grpc.StatusCode.INVALID_ARGUMENT
    with DaprClient() as client:
        cases = [
            (EncryptOptions("nostore", RSA_KEY, "RSA"), invalid, "crypto provider nostore not found"),
            (
                _encrypt_opts("nokey", "AES"),
                internal,
                "failed to perform operation: failed to wrap the file key: failed to retrieve the key "
                "encryption key: failed to load key 'nokey': no such file",
            ),
            (
                _encrypt_opts(SYMMETRIC_KEY, "A128KW"),
                internal,
                "failed to perform operation: option Algorithm is not valid: "
                "algorithm A128KW is not supported",
            ),
            (
                _encrypt_opts(SYMMETRIC_KEY, "AES", data_encryption_cipher="des"),
                internal,
                "failed to perform operation: option Cipher is not valid: cipher DES is not supported",
            ),
            (
                _encrypt_opts(SYMMETRIC_KEY, "RSA"),
                internal,
                "failed to perform operation: failed to wrap the file key: "
                "failed to encrypt data: key type mismatch",
            ),
        ]
        for opts, code, details in cases:
            err = _rpc_error(lambda opts=opts: client.encrypt(data=b"x", options=opts).read())
            assert (err.code(), err.details()) == (code, details), opts

        encrypted = client.encrypt(data=b"secret" * 100, options=_encrypt_opts(SYMMETRIC_KEY, "AES")).read()
        tampered = encrypted[:-3] + bytes([encrypted[-3] ^ 0x40]) + encrypted[-2:]
        err = _rpc_error(
            lambda: client.decrypt(
                data=tampered, options=DecryptOptions(CRYPTO_COMPONENT, SYMMETRIC_KEY)
            ).read()
        )
        assert (err.code(), err.details()) == (
            internal,
            "failed to perform operation: error processing segment 0: failed to decrypt segment",
        )
        # A wrong key and a missing key both fail the header's signature, nothing more is told.
        for key in ("ec-key.pem", "nokey"):
            err = _rpc_error(
                lambda key=key: client.decrypt(
                    data=encrypted, options=DecryptOptions(CRYPTO_COMPONENT, key)
                ).read()
            )
            assert err.details() == "failed to perform operation: failed to validate the document's signature"
        err = _rpc_error(
            lambda: client.decrypt(data=b"not encrypted", options=DecryptOptions(CRYPTO_COMPONENT)).read()
        )
        assert err.details() == "failed to perform operation: invalid header: scheme name not found"
        # An empty input sends no message at all, which Dapr reports as the stream's end.
        err = _rpc_error(lambda: client.encrypt(data=b"", options=_encrypt_opts()).read())
        assert err.details() == "failed to perform operation: error receiving the first message: EOF"
    # Keys never reach the log.
    log = sidecar.log()
    assert "BEGIN" not in log and base64.b64encode(_key_files()[SYMMETRIC_KEY]).decode() not in log


def _http(
    sidecar: Sidecar, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, bytes, str]:
    req = urllib.request.Request(sidecar.url + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read(), resp.headers.get("content-type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("content-type", "")


def test_http_encrypt_decrypt_and_errors(procs: Processes, dapr_settings: Any) -> None:
    sidecar = _sidecar(procs, "crypto-http")
    dapr_settings(sidecar)
    plaintext = os.urandom(200_000)
    headers = {"dapr-key-name": SYMMETRIC_KEY, "dapr-key-wrap-algorithm": "AES"}
    status, encrypted, ctype = _http(
        sidecar, "PUT", "/v1.0-alpha1/crypto/cryptostore/encrypt", plaintext, headers
    )
    assert (status, ctype) == (200, "application/octet-stream")
    status, decrypted, _ = _http(sidecar, "PUT", "/v1.0-alpha1/crypto/cryptostore/decrypt", encrypted)
    assert (status, decrypted) == (200, plaintext)

    # What one transport encrypts, the other decrypts.
    with DaprClient() as client:
        assert client.decrypt(data=encrypted, options=DecryptOptions(CRYPTO_COMPONENT)).read() == plaintext
        from_grpc = client.encrypt(data=b"over grpc", options=_encrypt_opts()).read()
    status, body, _ = _http(sidecar, "PUT", "/v1.0-alpha1/crypto/cryptostore/decrypt", from_grpc)
    assert (status, body) == (200, b"over grpc")

    headers_opts = {
        "dapr-key-name": RSA_KEY,
        "dapr-key-wrap-algorithm": "rsa-oaep-256",
        "dapr-data-encryption-cipher": "chacha20-poly1305",
        "dapr-omit-decryption-key-name": "true",
    }
    status, encrypted_rsa, _ = _http(
        sidecar, "PUT", "/v1.0-alpha1/crypto/cryptostore/encrypt", b"opts", headers_opts
    )
    assert (
        status == 200
        and b'"kw":5' in encrypted_rsa
        and b'"cph":2' in encrypted_rsa
        and b'"k":' not in encrypted_rsa
    )
    status, body, _ = _http(
        sidecar, "PUT", "/v1.0-alpha1/crypto/cryptostore/decrypt", encrypted_rsa, {"dapr-key-name": RSA_KEY}
    )
    assert (status, body) == (200, b"opts")

    scheme_line, manifest, _mac, rest = encrypted.split(b"\n", 3)
    tampered = b"\n".join([scheme_line, manifest, base64.b64encode(bytes(32)), rest])
    bad = [
        (
            "encrypt",
            b"x",
            {"dapr-key-wrap-algorithm": "AES"},
            400,
            "ERR_BAD_REQUEST",
            "invalid request: missing header 'dapr-key-name'",
        ),
        (
            "encrypt",
            b"x",
            {"dapr-key-name": "k"},
            400,
            "ERR_BAD_REQUEST",
            "invalid request: missing header 'dapr-key-wrap-algorithm'",
        ),
        (
            "decrypt",
            tampered,
            {},
            500,
            "ERR_CRYPTO",
            "failed to perform operation: failed to validate the document's signature",
        ),
        (
            "decrypt",
            encrypted[:-1],
            {},
            500,
            "ERROR",
            "error processing segment 3: failed to decrypt segment",
        ),
        (
            "decrypt",
            b"",
            {},
            500,
            "ERR_CRYPTO",
            "failed to perform operation: invalid header: scheme name not found",
        ),
    ]
    for op, body, hdrs, status_code, code, message in bad:
        status, raw, _ = _http(sidecar, "PUT", f"/v1.0-alpha1/crypto/cryptostore/{op}", body, hdrs)
        assert (status, json.loads(raw)) == (status_code, {"errorCode": code, "message": message}), op
    status, raw, _ = _http(sidecar, "PUT", "/v1.0-alpha1/crypto/nostore/encrypt", b"x", headers)
    assert (status, json.loads(raw)["errorCode"]) == (400, "ERR_CRYPTO_PROVIDER_NOT_FOUND")
    # The component is checked before the headers on this route, as in Dapr.
    status, raw, _ = _http(sidecar, "PUT", "/v1.0-alpha1/crypto/nostore/encrypt", b"x")
    assert json.loads(raw)["errorCode"] == "ERR_CRYPTO_PROVIDER_NOT_FOUND"

    # The metadata API lists the crypto components.
    status, raw, _ = _http(sidecar, "GET", "/v1.0/metadata")
    listed = {(c["name"], c["type"], c.get("version", "")) for c in json.loads(raw)["components"]}
    # jwkstore's file gives no spec.version, as the SDK's own resources do.
    assert {("cryptostore", "crypto.dapr.localstorage", "v1"), ("jwkstore", "crypto.dapr.jwks", "")} <= listed
    with DaprClient() as client:
        meta = client.get_metadata()
    assert {(c.name, c.type) for c in meta.registered_components} >= {
        ("cryptostore", "crypto.dapr.localstorage")
    }


def test_subtle_apis_over_grpc_and_http(procs: Processes) -> None:
    sidecar = _sidecar(procs, "crypto-subtle")
    with grpc.insecure_channel(f"127.0.0.1:{sidecar.grpc_port}") as channel:
        stub = dapr_pb2_grpc.DaprStub(channel)
        pem = stub.SubtleGetKeyAlpha1(
            runtime.SubtleGetKeyRequest(component_name=CRYPTO_COMPONENT, name=RSA_KEY)
        )
        assert pem.name == RSA_KEY and pem.public_key.startswith("-----BEGIN PUBLIC KEY-----\n")
        jwk = stub.SubtleGetKeyAlpha1(
            runtime.SubtleGetKeyRequest(component_name=CRYPTO_COMPONENT, name="ec-key.pem", format=1)
        )
        assert sorted(json.loads(jwk.public_key)) == ["crv", "kty", "x", "y"]

        nonce = os.urandom(12)
        enc = stub.SubtleEncryptAlpha1(
            runtime.SubtleEncryptRequest(
                component_name="jwkstore",
                plaintext=b"small",
                algorithm="A256GCM",
                key_name="aes-jwk",
                nonce=nonce,
            )
        )
        assert len(enc.tag) == 16
        dec = stub.SubtleDecryptAlpha1(
            runtime.SubtleDecryptRequest(
                component_name=CRYPTO_COMPONENT,
                ciphertext=enc.ciphertext,
                tag=enc.tag,
                algorithm="A256GCM",
                key_name=SYMMETRIC_KEY,
                nonce=nonce,
            )
        )
        assert dec.plaintext == b"small"

        wrapped = stub.SubtleWrapKeyAlpha1(
            runtime.SubtleWrapKeyRequest(
                component_name=CRYPTO_COMPONENT,
                plaintext_key=bytes(range(32)),
                algorithm="A256KW",
                key_name=SYMMETRIC_KEY,
            )
        )
        unwrapped = stub.SubtleUnwrapKeyAlpha1(
            runtime.SubtleUnwrapKeyRequest(
                component_name=CRYPTO_COMPONENT,
                wrapped_key=wrapped.wrapped_key,
                algorithm="A256KW",
                key_name=SYMMETRIC_KEY,
            )
        )
        assert unwrapped.plaintext_key == bytes(range(32))

        digest = hashlib.sha256(b"document").digest()
        sig = stub.SubtleSignAlpha1(
            runtime.SubtleSignRequest(
                component_name=CRYPTO_COMPONENT, digest=digest, algorithm="PS256", key_name=RSA_KEY
            )
        )
        ok = stub.SubtleVerifyAlpha1(
            runtime.SubtleVerifyRequest(
                component_name=CRYPTO_COMPONENT,
                digest=digest,
                signature=sig.signature,
                algorithm="PS256",
                key_name=RSA_KEY,
            )
        )
        assert ok.valid

        with pytest.raises(grpc.RpcError) as info:
            stub.SubtleEncryptAlpha1(
                runtime.SubtleEncryptRequest(
                    component_name="jwkstore",
                    plaintext=b"x",
                    algorithm="A256GCM",
                    key_name="nokey",
                    nonce=nonce,
                )
            )
        assert (info.value.code(), info.value.details()) == (
            grpc.StatusCode.INTERNAL,
            "failed to perform operation: failed to encrypt",
        )
        with pytest.raises(grpc.RpcError) as info:
            stub.SubtleGetKeyAlpha1(
                runtime.SubtleGetKeyRequest(component_name=CRYPTO_COMPONENT, name=SYMMETRIC_KEY)
            )
        assert info.value.details() == f"failed to retrieve key {SYMMETRIC_KEY}: key not found"

    # The HTTP forms take and give the same messages as protojson.
    b64 = base64.b64encode
    status, raw, _ = _http(
        sidecar,
        "POST",
        "/v1.0-alpha1/subtlecrypto/cryptostore/sign",
        json.dumps({"digest": b64(digest).decode(), "algorithm": "ES256", "keyName": "ec-key.pem"}).encode(),
    )
    assert status == 200
    signature = json.loads(raw)["signature"]
    verify = {
        "digest": b64(digest).decode(),
        "signature": signature,
        "algorithm": "ES256",
        "keyName": "ec-key.pem",
    }
    status, raw, _ = _http(
        sidecar, "POST", "/v1.0-alpha1/subtlecrypto/cryptostore/verify", json.dumps(verify).encode()
    )
    assert (status, json.loads(raw)) == (200, {"valid": True})
    verify["signature"] = b64(b"forged").decode()
    status, raw, _ = _http(
        sidecar, "POST", "/v1.0-alpha1/subtlecrypto/cryptostore/verify", json.dumps(verify).encode()
    )
    assert (status, json.loads(raw)) == (200, {})  # protojson leaves out valid=false, as Dapr's does
    status, raw, _ = _http(
        sidecar,
        "POST",
        "/v1.0-alpha1/subtlecrypto/cryptostore/getkey",
        json.dumps({"name": RSA_KEY, "format": "PEM"}).encode(),
    )
    assert status == 200 and json.loads(raw)["publicKey"].startswith("-----BEGIN PUBLIC KEY-----")
    status, raw, _ = _http(sidecar, "POST", "/v1.0-alpha1/subtlecrypto/cryptostore/getkey", b"{not json")
    assert (status, json.loads(raw)["errorCode"]) == (400, "ERR_MALFORMED_REQUEST")
    status, raw, _ = _http(sidecar, "POST", "/v1.0-alpha1/subtlecrypto/nostore/getkey", b"{}")
    assert (status, json.loads(raw)) == (
        400,
        {"errorCode": "ERR_CRYPTO_PROVIDER_NOT_FOUND", "message": "crypto provider nostore not found"},
    )


def test_no_crypto_component_is_not_configured(procs: Processes, dapr_settings: Any) -> None:
    empty = procs.workdir / "empty"
    empty.mkdir()
    sidecar = procs.sidecar("crypto-none", resources=empty)
    dapr_settings(sidecar)
    status, raw, _ = _http(sidecar, "PUT", "/v1.0-alpha1/crypto/cryptostore/decrypt", b"x")
    assert (status, json.loads(raw)) == (
        500,
        {"errorCode": "ERR_CRYPTO_PROVIDERS_NOT_CONFIGURED", "message": "crypto providers not configured"},
    )
    with DaprClient() as client:
        err = _rpc_error(lambda: client.encrypt(data=b"x", options=_encrypt_opts()).read())
    assert (err.code(), err.details()) == (grpc.StatusCode.INTERNAL, "crypto providers not configured")


def test_a_bad_key_folder_stops_the_sidecar_with_the_reason(procs: Processes) -> None:
    resources = procs.workdir / "resources"
    resources.mkdir()
    (resources / "crypto.yaml").write_text(COMPONENTS.split("---", maxsplit=1)[0])
    with pytest.raises(RuntimeError, match=r"cryptostore.*could not stat path '\./keys'"):
        procs.sidecar("crypto-bad", resources=resources)


def test_stream_protocol_errors(procs: Processes) -> None:
    """The wire rules of the two streams: options first and only first, seq counting from 0, the
    first message within 5 s."""
    sidecar = _sidecar(procs, "crypto-stream")
    opts = runtime.EncryptRequestOptions(
        component_name=CRYPTO_COMPONENT, key_name=SYMMETRIC_KEY, key_wrap_algorithm="AES"
    )

    def payload(seq: int) -> Any:
        message = runtime.EncryptRequest()
        message.payload.data, message.payload.seq = b"x" * 10, seq
        return message

    def first() -> Any:
        message = payload(0)
        message.options.CopyFrom(opts)
        return message

    def late() -> Any:
        time.sleep(6)
        yield first()

    second_with_options = payload(1)
    second_with_options.options.CopyFrom(opts)
    cases = [
        (
            iter([payload(0)]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "invalid request: first message does not contain the required options",
        ),
        (
            iter([first(), payload(2)]),
            grpc.StatusCode.INTERNAL,
            "failed to perform operation: invalid sequence number received: 2 (expected: 1)",
        ),
        (
            iter([first(), second_with_options]),
            grpc.StatusCode.INTERNAL,
            "failed to perform operation: options found in non-leading message",
        ),
        (
            late(),
            grpc.StatusCode.INVALID_ARGUMENT,
            "invalid request: error waiting for first message: context deadline exceeded",
        ),
    ]
    with grpc.insecure_channel(f"127.0.0.1:{sidecar.grpc_port}") as channel:
        stub = dapr_pb2_grpc.DaprStub(channel)
        for requests, code, details in cases:
            with pytest.raises(grpc.RpcError) as info:
                list(stub.EncryptAlpha1(requests))
            assert (info.value.code(), info.value.details()) == (code, details)
        decrypt = runtime.DecryptRequest()
        decrypt.payload.data = b"dapr.io/enc/v1\n"
        with pytest.raises(grpc.RpcError) as info:
            list(stub.DecryptAlpha1(iter([decrypt])))
        assert info.value.details() == "invalid request: first message does not contain the required options"
