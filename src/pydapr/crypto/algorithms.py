"""The cryptographic operations behind the subtle APIs, by JOSE algorithm name (dapr/kit ``crypto``).

Encryption: AES-CBC (PKCS#7), AES-GCM, AES-CBC-HMAC (RFC 7518 §5.2), AES key wrap (RFC 3394),
ChaCha20-Poly1305 and XChaCha20-Poly1305 (also as the ``*KW`` key-wrap names), RSA PKCS#1 v1.5 and
RSA-OAEP with SHA-1/256/384/512. Signatures: RS*, PS*, ES* over a digest the caller computed, EdDSA
(Ed25519) over the message. Names Dapr lists but does not dispatch (``A*CBC-NOPAD``, ``A*GCMKW``,
``ECDH-ES*``) answer "unsupported algorithm" as in Dapr. Every primitive is the ``cryptography``
library's; errors carry Dapr's short messages and nothing about the key.
"""

from __future__ import annotations

import hmac
import struct

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, keywrap
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, utils
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from pydapr.crypto.keys import Key


class CryptoOperationError(Exception):
    """An operation failed; messages are dapr/kit's (``unsupported algorithm``, ``key type mismatch`` ...)."""


UNSUPPORTED = "unsupported algorithm"
MISMATCH = "key type mismatch"

_CBC = {"A128CBC": 16, "A192CBC": 24, "A256CBC": 32}
_GCM = {"A128GCM": 16, "A192GCM": 24, "A256GCM": 32}
_KW = {"A128KW": 16, "A192KW": 24, "A256KW": 32}
# name -> (MAC key size, encryption key size, tag size, hash)
_CBC_HMAC: dict[str, tuple[int, int, int, type[hashes.HashAlgorithm]]] = {
    "A128CBC-HS256": (16, 16, 16, hashes.SHA256),
    "A192CBC-HS384": (24, 24, 24, hashes.SHA384),
    "A256CBC-HS512": (32, 32, 32, hashes.SHA512),
}
_CHACHA = {"C20P": 12, "C20PKW": 12, "XC20P": 24, "XC20PKW": 24}
_RSA_ENC: dict[str, type[hashes.HashAlgorithm] | None] = {
    "RSA1_5": None,
    "RSA-OAEP": hashes.SHA1,
    "RSA-OAEP-256": hashes.SHA256,
    "RSA-OAEP-384": hashes.SHA384,
    "RSA-OAEP-512": hashes.SHA512,
}
_SHA: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}

SYMMETRIC_ALGORITHMS = (*_CBC, *_GCM, *_CBC_HMAC, *_KW, *_CHACHA)
ASYMMETRIC_ALGORITHMS = tuple(_RSA_ENC)
_RSA_SIG = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
SIGNATURE_ALGORITHMS = (*_RSA_SIG, "ES256", "ES384", "ES512", "EdDSA")


def _secret(key: Key, size: int | None) -> bytes:
    if key.kty != "oct" or not isinstance(key.material, bytes):
        raise CryptoOperationError(MISMATCH)
    if size is not None and len(key.material) != size:
        raise CryptoOperationError(MISMATCH)
    return key.material


# --- symmetric -----------------------------------------------------------------------------------


def encrypt(
    plaintext: bytes, algorithm: str, key: Key, nonce: bytes = b"", associated_data: bytes = b""
) -> tuple[bytes, bytes]:
    """Encrypt with ``algorithm``; returns ``(ciphertext, tag)`` (the tag empty for non-AEAD ciphers)."""
    if algorithm in _RSA_ENC:
        return _rsa_encrypt(plaintext, algorithm, key, associated_data), b""
    if algorithm in _CBC:
        secret = _secret(key, _CBC[algorithm])
        _need_nonce(nonce, 16)
        padder = sym_padding.PKCS7(128).padder()
        padded = padder.update(plaintext) + padder.finalize()
        enc = Cipher(algorithms.AES(secret), modes.CBC(nonce)).encryptor()
        return enc.update(padded) + enc.finalize(), b""
    if algorithm in _GCM:
        secret = _secret(key, _GCM[algorithm])
        _need_nonce(nonce, 12)
        return _split_tag(AESGCM(secret).encrypt(nonce, plaintext, associated_data or None), 16)
    if algorithm in _CBC_HMAC:
        return _cbc_hmac_seal(algorithm, _secret(key, None), nonce, plaintext, associated_data)
    if algorithm in _KW:
        secret = _secret(key, _KW[algorithm])
        try:
            return keywrap.aes_key_wrap(secret, plaintext), b""
        except ValueError:
            raise CryptoOperationError("invalid plaintext length") from None
    if algorithm in _CHACHA:
        aead, inner_nonce = _chacha(algorithm, _secret(key, 32), nonce)
        return _split_tag(aead.encrypt(inner_nonce, plaintext, associated_data or None), 16)
    raise CryptoOperationError(UNSUPPORTED)


def decrypt(
    ciphertext: bytes,
    algorithm: str,
    key: Key,
    nonce: bytes = b"",
    tag: bytes = b"",
    associated_data: bytes = b"",
) -> bytes:
    """Decrypt with ``algorithm``; AEAD ciphers need the ``tag`` their encryption returned."""
    if algorithm in _RSA_ENC:
        return _rsa_decrypt(ciphertext, algorithm, key, associated_data)
    try:
        if algorithm in _CBC:
            secret = _secret(key, _CBC[algorithm])
            _need_nonce(nonce, 16)
            if len(ciphertext) % 16:
                raise CryptoOperationError("invalid ciphertext length")
            dec = Cipher(algorithms.AES(secret), modes.CBC(nonce)).decryptor()
            padded = dec.update(ciphertext) + dec.finalize()
            unpadder = sym_padding.PKCS7(128).unpadder()
            return unpadder.update(padded) + unpadder.finalize()
        if algorithm in _GCM:
            secret = _secret(key, _GCM[algorithm])
            _need_nonce(nonce, 12)
            _need_tag(tag, 16)
            return AESGCM(secret).decrypt(nonce, ciphertext + tag, associated_data or None)
        if algorithm in _CBC_HMAC:
            return _cbc_hmac_open(algorithm, _secret(key, None), nonce, ciphertext, tag, associated_data)
        if algorithm in _KW:
            return keywrap.aes_key_unwrap(_secret(key, _KW[algorithm]), ciphertext)
        if algorithm in _CHACHA:
            aead, inner_nonce = _chacha(algorithm, _secret(key, 32), nonce)
            _need_tag(tag, 16)
            return aead.decrypt(inner_nonce, ciphertext + tag, associated_data or None)
    except (InvalidTag, keywrap.InvalidUnwrap):
        raise CryptoOperationError("message authentication failed") from None
    except ValueError:
        # PKCS#7 unpadding; callers hide the detail from users (padding oracles).
        raise CryptoOperationError("invalid padding") from None
    raise CryptoOperationError(UNSUPPORTED)


def _need_nonce(nonce: bytes, size: int) -> None:
    if len(nonce) != size:
        raise CryptoOperationError("invalid nonce")


def _need_tag(tag: bytes, size: int) -> None:
    if len(tag) != size:
        raise CryptoOperationError("invalid tag")


def _split_tag(sealed: bytes, size: int) -> tuple[bytes, bytes]:
    return sealed[:-size], sealed[-size:]


def _cbc_hmac_keys(algorithm: str, secret: bytes) -> tuple[bytes, bytes, int, type[hashes.HashAlgorithm]]:
    mac_size, enc_size, tag_size, hash_cls = _CBC_HMAC[algorithm]
    if len(secret) != mac_size + enc_size:
        raise CryptoOperationError(MISMATCH)
    return secret[:mac_size], secret[mac_size:], tag_size, hash_cls


def _cbc_hmac_tag(
    mac_key: bytes, hash_cls: type[hashes.HashAlgorithm], aad: bytes, iv: bytes, ct: bytes, size: int
) -> bytes:
    mac = crypto_hmac.HMAC(mac_key, hash_cls())
    mac.update(aad + iv + ct + struct.pack(">Q", len(aad) * 8))
    return mac.finalize()[:size]


def _cbc_hmac_seal(
    algorithm: str, secret: bytes, iv: bytes, plaintext: bytes, aad: bytes
) -> tuple[bytes, bytes]:
    mac_key, enc_key, tag_size, hash_cls = _cbc_hmac_keys(algorithm, secret)
    _need_nonce(iv, 16)
    padder = sym_padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    enc = Cipher(algorithms.AES(enc_key), modes.CBC(iv)).encryptor()
    ct = enc.update(padded) + enc.finalize()
    return ct, _cbc_hmac_tag(mac_key, hash_cls, aad, iv, ct, tag_size)


def _cbc_hmac_open(algorithm: str, secret: bytes, iv: bytes, ct: bytes, tag: bytes, aad: bytes) -> bytes:
    mac_key, enc_key, tag_size, hash_cls = _cbc_hmac_keys(algorithm, secret)
    _need_nonce(iv, 16)
    _need_tag(tag, tag_size)
    if not hmac.compare_digest(_cbc_hmac_tag(mac_key, hash_cls, aad, iv, ct, tag_size), tag):
        raise InvalidTag
    if len(ct) % 16:
        raise CryptoOperationError("invalid ciphertext length")
    dec = Cipher(algorithms.AES(enc_key), modes.CBC(iv)).decryptor()
    padded = dec.update(ct) + dec.finalize()
    unpadder = sym_padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def _chacha(algorithm: str, secret: bytes, nonce: bytes) -> tuple[ChaCha20Poly1305, bytes]:
    _need_nonce(nonce, _CHACHA[algorithm])
    if len(nonce) == 12:
        return ChaCha20Poly1305(secret), nonce
    # XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha): ChaCha20-Poly1305 under the HChaCha20 subkey of
    # the first 16 nonce bytes, with the last 8 as nonce.
    return ChaCha20Poly1305(_hchacha20(secret, nonce[:16])), b"\0\0\0\0" + nonce[16:]


_SIGMA = struct.unpack("<4I", b"expand 32-byte k")


def _hchacha20(key: bytes, nonce16: bytes) -> bytes:
    # A ChaCha20 block is (state after 20 rounds) + (initial state), word by word; HChaCha20 is the
    # state after the rounds, words 0-3 and 12-15. The 16-byte "nonce" of cryptography's ChaCha20
    # fills words 12-15, so subtracting the known initial words from block 0 yields HChaCha20.
    block = Cipher(algorithms.ChaCha20(key, nonce16), mode=None).encryptor().update(bytes(64))
    words = struct.unpack("<16I", block)
    counter_nonce = struct.unpack("<4I", nonce16)
    out = [(words[i] - _SIGMA[i]) & 0xFFFFFFFF for i in range(4)]
    out += [(words[12 + i] - counter_nonce[i]) & 0xFFFFFFFF for i in range(4)]
    return struct.pack("<8I", *out)


# --- RSA encryption ------------------------------------------------------------------------------


def _oaep(algorithm: str, label: bytes) -> asym_padding.AsymmetricPadding:
    hash_cls = _RSA_ENC[algorithm]
    if hash_cls is None:
        return asym_padding.PKCS1v15()
    return asym_padding.OAEP(mgf=asym_padding.MGF1(hash_cls()), algorithm=hash_cls(), label=label or None)


def _rsa_encrypt(plaintext: bytes, algorithm: str, key: Key, label: bytes) -> bytes:
    public = key.public().material
    if not isinstance(public, rsa.RSAPublicKey):
        raise CryptoOperationError(MISMATCH)
    try:
        return public.encrypt(plaintext, _oaep(algorithm, label))
    except ValueError:
        raise CryptoOperationError("message too long for RSA key size") from None


def _rsa_decrypt(ciphertext: bytes, algorithm: str, key: Key, label: bytes) -> bytes:
    if not isinstance(key.material, rsa.RSAPrivateKey):
        raise CryptoOperationError(MISMATCH)
    try:
        return key.material.decrypt(ciphertext, _oaep(algorithm, label))
    except ValueError:
        raise CryptoOperationError("decryption error") from None


# --- signatures ----------------------------------------------------------------------------------

_DIGEST_BY_SIZE: dict[int, type[hashes.HashAlgorithm]] = {
    20: hashes.SHA1,
    28: hashes.SHA224,
    32: hashes.SHA256,
    48: hashes.SHA384,
    64: hashes.SHA512,
}


def _prehashed_ecdsa(digest: bytes) -> ec.ECDSA:
    # Go's ecdsa.SignASN1 takes a digest of any length; OpenSSL needs to be told its size.
    hash_cls = _DIGEST_BY_SIZE.get(len(digest))
    if hash_cls is None:
        raise CryptoOperationError("invalid digest length")
    return ec.ECDSA(utils.Prehashed(hash_cls()))


def _rsa_signature_padding(
    algorithm: str, hash_cls: type[hashes.HashAlgorithm], sign: bool
) -> asym_padding.AsymmetricPadding:
    if algorithm.startswith("RS"):
        return asym_padding.PKCS1v15()
    # Go's rsa.SignPSS with nil options uses the largest salt; VerifyPSS detects it.
    salt = asym_padding.PSS.MAX_LENGTH if sign else asym_padding.PSS.AUTO
    return asym_padding.PSS(mgf=asym_padding.MGF1(hash_cls()), salt_length=salt)


def sign(digest: bytes, algorithm: str, key: Key) -> bytes:
    """Sign ``digest`` (for EdDSA: the message) with a private key."""
    material = key.material
    try:
        if algorithm in _RSA_SIG:
            if not isinstance(material, rsa.RSAPrivateKey):
                raise CryptoOperationError(MISMATCH)
            hash_cls = _SHA[algorithm[2:]]
            return material.sign(
                digest, _rsa_signature_padding(algorithm, hash_cls, True), utils.Prehashed(hash_cls())
            )
        if algorithm in ("ES256", "ES384", "ES512"):
            if not isinstance(material, ec.EllipticCurvePrivateKey):
                raise CryptoOperationError(MISMATCH)
            return material.sign(digest, _prehashed_ecdsa(digest))
        if algorithm == "EdDSA":
            if not isinstance(material, ed25519.Ed25519PrivateKey):
                raise CryptoOperationError(MISMATCH)
            return material.sign(digest)
    except ValueError:
        raise CryptoOperationError("invalid digest length") from None
    raise CryptoOperationError(UNSUPPORTED)


def verify(digest: bytes, signature: bytes, algorithm: str, key: Key) -> bool:
    """Check ``signature`` over ``digest`` with the key's public half; a wrong signature is False."""
    material = key.public().material
    try:
        if algorithm in _RSA_SIG:
            if not isinstance(material, rsa.RSAPublicKey):
                raise CryptoOperationError(MISMATCH)
            hash_cls = _SHA[algorithm[2:]]
            material.verify(
                signature,
                digest,
                _rsa_signature_padding(algorithm, hash_cls, False),
                utils.Prehashed(hash_cls()),
            )
            return True
        if algorithm in ("ES256", "ES384", "ES512"):
            if not isinstance(material, ec.EllipticCurvePublicKey):
                raise CryptoOperationError(MISMATCH)
            material.verify(signature, digest, _prehashed_ecdsa(digest))
            return True
        if algorithm == "EdDSA":
            if not isinstance(material, ed25519.Ed25519PublicKey):
                raise CryptoOperationError(MISMATCH)
            material.verify(signature, digest)
            return True
    except InvalidSignature:
        return False
    except ValueError:
        raise CryptoOperationError("invalid digest length") from None
    raise CryptoOperationError(UNSUPPORTED)
