"""Keys as the crypto components hold them, and the file formats they are read from.

A ``Key`` is what a JWK describes (dapr/kit ``crypto.ParseKey`` over lestrrat-go/jwx): an RSA, EC or
OKP key pair or public key, or an ``oct`` symmetric secret, with the optional JWK attributes ``kid``,
``alg``, ``use`` and ``key_ops`` that restrict what it may do. Parsing follows Dapr's rules: a JWK
(JSON), PEM (PKCS#8, PKCS#1, SEC1 private keys, PKIX or PKCS#1 public keys, certificates), or raw
symmetric bytes, optionally base64. Key material never appears in a ``repr`` or an error message.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519

PrivateKey = (
    rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | x25519.X25519PrivateKey
)
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | x25519.X25519PublicKey

KEY_TYPES = ("RSA", "EC", "OKP", "oct")
_PRIVATE_TYPES = (
    rsa.RSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    ed25519.Ed25519PrivateKey,
    x25519.X25519PrivateKey,
)
_OKP_TYPES = (
    ed25519.Ed25519PrivateKey,
    ed25519.Ed25519PublicKey,
    x25519.X25519PrivateKey,
    x25519.X25519PublicKey,
)


class InvalidKey(ValueError):
    """A key could not be read or used; the message never contains key material."""


_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "P-256": ec.SECP256R1,
    "P-384": ec.SECP384R1,
    "P-521": ec.SECP521R1,
}
_CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


@dataclass(frozen=True, eq=False, repr=False, slots=True)
class Key:
    """One key. ``material`` is a ``cryptography`` key object, or the secret bytes of an ``oct`` key."""

    kty: str
    material: PrivateKey | PublicKey | bytes
    kid: str = ""
    alg: str = ""
    use: str = ""
    key_ops: tuple[str, ...] = ()

    @classmethod
    def symmetric(cls, secret: bytes) -> Key:
        return cls("oct", bytes(secret))

    @classmethod
    def from_object(cls, obj: PrivateKey | PublicKey) -> Key:
        if isinstance(obj, rsa.RSAPrivateKey | rsa.RSAPublicKey):
            return cls("RSA", obj)
        if isinstance(obj, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
            return cls("EC", obj)
        if isinstance(obj, _OKP_TYPES):
            return cls("OKP", obj)
        raise InvalidKey("invalid key type")

    @property
    def is_private(self) -> bool:
        return isinstance(self.material, _PRIVATE_TYPES)

    @property
    def secret(self) -> bytes:
        if not isinstance(self.material, bytes):
            raise InvalidKey("key type mismatch")
        return self.material

    def public(self) -> Key:
        """The public half (the key itself when it is public or symmetric), attributes kept."""
        if not self.is_private:
            return self
        material = self.material
        assert not isinstance(material, bytes)
        return Key(self.kty, material.public_key(), self.kid, self.alg, self.use, self.key_ops)  # type: ignore[union-attr]

    def __repr__(self) -> str:
        kind = "private" if self.is_private else ("secret" if self.kty == "oct" else "public")
        return f"Key(kty={self.kty!r}, {kind}, kid={self.kid!r})"


# --- parsing -------------------------------------------------------------------------------------


def parse_key(raw: bytes, content_type: str = "") -> Key:
    """Dapr's ``ParseKey``: by content type if given, else by shape (JWK, PEM, raw symmetric bytes)."""
    if not raw:
        raise InvalidKey("key is empty")
    if content_type == "application/json":
        return parse_jwk_bytes(raw)
    if content_type in ("application/x-pem-file", "application/pkcs8"):
        return parse_pem(raw)
    size = len(raw)
    if raw[:1] == b"{" and size not in (16, 24, 32):
        return parse_jwk_bytes(raw)
    if size > 10 and raw[:5] == b"-----":
        return parse_pem(raw)
    return Key.symmetric(_symmetric_bytes(raw))


_B64_STD = re.compile(rb"^[A-Za-z0-9+/]*$")
_B64_URL = re.compile(rb"^[A-Za-z0-9_-]*$")


def _symmetric_bytes(raw: bytes) -> bytes:
    # As Go's base64.RawStdEncoding / RawURLEncoding after trimming "\n" and "=": CR/LF inside are
    # skipped, anything else outside the alphabet means the bytes are the key itself.
    trimmed = raw.rstrip(b"\n=").replace(b"\r", b"").replace(b"\n", b"")
    if trimmed and len(trimmed) % 4 != 1:
        padded = trimmed + b"=" * (-len(trimmed) % 4)
        if _B64_STD.match(trimmed):
            return base64.b64decode(padded)
        if _B64_URL.match(trimmed):
            return base64.urlsafe_b64decode(padded)
    return bytes(raw)


def _b64url(value: Any, field: str) -> bytes:
    if not isinstance(value, str):
        raise InvalidKey(f"failed to parse JWK: field {field!r} must be a base64url string")
    text = value.strip().rstrip("=")
    try:
        return base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_") + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidKey(f"failed to parse JWK: field {field!r} is not valid base64url") from None


def _int(obj: dict[str, Any], field: str) -> int:
    if field not in obj:
        raise InvalidKey(f"failed to parse JWK: required field {field!r} is missing")
    return int.from_bytes(_b64url(obj[field], field), "big")


def parse_jwk_bytes(raw: bytes) -> Key:
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidKey("failed to parse JWK: invalid JSON") from None
    if not isinstance(obj, dict):
        raise InvalidKey("failed to parse JWK: not a JSON object")
    if "keys" in obj and "kty" not in obj:
        keys = parse_jwks(obj)
        if len(keys) != 1:
            raise InvalidKey(f"failed to parse JWK: expected exactly one key, found {len(keys)}")
        return keys[0]
    return parse_jwk(obj)


def parse_jwk(obj: dict[str, Any]) -> Key:
    """One JWK object (RFC 7517/7518, RFC 8037 for OKP)."""
    kty = obj.get("kty")
    attrs = _jwk_attributes(obj)
    try:
        if kty == "oct":
            return Key("oct", _b64url(obj.get("k"), "k"), **attrs)
        if kty == "RSA":
            return Key("RSA", _rsa_from_jwk(obj), **attrs)
        if kty == "EC":
            return Key("EC", _ec_from_jwk(obj), **attrs)
        if kty == "OKP":
            return Key("OKP", _okp_from_jwk(obj), **attrs)
    except InvalidKey:
        raise
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InvalidKey(f"failed to parse JWK: invalid {kty} key ({type(exc).__name__})") from None
    raise InvalidKey(f"failed to parse JWK: invalid key type {kty!r}")


def _jwk_attributes(obj: dict[str, Any]) -> dict[str, Any]:
    ops = obj.get("key_ops") or ()
    if not isinstance(ops, list | tuple) or not all(isinstance(o, str) for o in ops):
        raise InvalidKey("failed to parse JWK: 'key_ops' must be a list of strings")
    attrs: dict[str, Any] = {"key_ops": tuple(ops)}
    for field in ("kid", "alg", "use"):
        value = obj.get(field, "")
        if not isinstance(value, str):
            raise InvalidKey(f"failed to parse JWK: {field!r} must be a string")
        attrs[field] = value
    return attrs


def _rsa_from_jwk(obj: dict[str, Any]) -> rsa.RSAPrivateKey | rsa.RSAPublicKey:
    n, e = _int(obj, "n"), _int(obj, "e")
    public = rsa.RSAPublicNumbers(e, n)
    if "d" not in obj:
        return public.public_key()
    d = _int(obj, "d")
    if "p" in obj and "q" in obj:
        p, q = _int(obj, "p"), _int(obj, "q")
    else:
        p, q = rsa.rsa_recover_prime_factors(n, e, d)
    dp = _int(obj, "dp") if "dp" in obj else rsa.rsa_crt_dmp1(d, p)
    dq = _int(obj, "dq") if "dq" in obj else rsa.rsa_crt_dmq1(d, q)
    qi = _int(obj, "qi") if "qi" in obj else rsa.rsa_crt_iqmp(p, q)
    return rsa.RSAPrivateNumbers(p, q, d, dp, dq, qi, public).private_key()


def _ec_from_jwk(obj: dict[str, Any]) -> ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey:
    curve_cls = _CURVES.get(str(obj.get("crv")))
    if curve_cls is None:
        raise InvalidKey(f"failed to parse JWK: unsupported curve {obj.get('crv')!r}")
    curve = curve_cls()
    public = ec.EllipticCurvePublicNumbers(_int(obj, "x"), _int(obj, "y"), curve)
    if "d" in obj:
        private = ec.derive_private_key(_int(obj, "d"), curve)
        if private.public_key().public_numbers() != public:
            raise InvalidKey("failed to parse JWK: EC private key does not match its public point")
        return private
    return public.public_key()


def _okp_from_jwk(obj: dict[str, Any]) -> PrivateKey | PublicKey:
    crv = obj.get("crv")
    if crv == "Ed25519":
        if "d" in obj:
            return ed25519.Ed25519PrivateKey.from_private_bytes(_b64url(obj["d"], "d"))
        return ed25519.Ed25519PublicKey.from_public_bytes(_b64url(obj.get("x"), "x"))
    if crv == "X25519":
        if "d" in obj:
            return x25519.X25519PrivateKey.from_private_bytes(_b64url(obj["d"], "d"))
        return x25519.X25519PublicKey.from_public_bytes(_b64url(obj.get("x"), "x"))
    raise InvalidKey(f"failed to parse JWK: unsupported OKP curve {crv!r}")


def parse_jwks(obj: Any) -> list[Key]:
    """A JWK Set (``{"keys": [...]}``); a single JWK object counts as a set of one, as jwx reads it."""
    if isinstance(obj, dict) and "kty" in obj:
        return [parse_jwk(obj)]
    if not isinstance(obj, dict) or not isinstance(obj.get("keys"), list):
        raise InvalidKey("failed to parse JWKS: expected an object with a 'keys' array")
    keys = []
    for index, item in enumerate(obj["keys"]):
        if not isinstance(item, dict):
            raise InvalidKey(f"failed to parse JWKS: key {index} is not an object")
        try:
            keys.append(parse_jwk(item))
        except InvalidKey as exc:
            raise InvalidKey(f"failed to parse JWKS: key {index}: {exc}") from None
    return keys


_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.S)


def parse_pem(raw: bytes) -> Key:
    """The first PEM block that holds a key: private (PKCS#8, PKCS#1, SEC1), public (PKIX,
    PKCS#1) or a certificate (its public key)."""
    match = _PEM_BLOCK.search(raw)
    if match is None:
        raise InvalidKey("failed to parse PEM: no PEM block found")
    kind = match.group(1).decode()
    try:
        der = base64.b64decode(b"".join(match.group(2).split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidKey(f"failed to parse PEM: block {kind!r} is not valid base64") from None
    try:
        obj: Any
        if kind in ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"):
            obj = serialization.load_der_private_key(der, password=None)
        elif kind == "PUBLIC KEY":
            obj = serialization.load_der_public_key(der)
        elif kind == "RSA PUBLIC KEY":
            obj = serialization.load_pem_public_key(match.group(0))
        elif kind == "CERTIFICATE":
            obj = x509.load_der_x509_certificate(der).public_key()
        elif kind == "ENCRYPTED PRIVATE KEY":
            raise InvalidKey("failed to parse PEM: encrypted private keys are not supported")
        else:
            raise InvalidKey(f"failed to parse PEM: unsupported block type {kind!r}")
    except InvalidKey:
        raise
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise InvalidKey(f"failed to parse PEM: block {kind!r} does not hold a valid key") from None
    return Key.from_object(obj)


# --- serialising ---------------------------------------------------------------------------------


def serialize_key(key: Key) -> bytes:
    """Dapr's ``SerializeKey``: symmetric keys as raw bytes, private keys as PKCS#8 DER, public keys
    as PKIX DER (what wrapping a key encrypts)."""
    material = key.material
    if isinstance(material, bytes):
        return material
    if isinstance(material, _PRIVATE_TYPES):
        return material.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    public: Any = material
    return bytes(
        public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def public_pem(key: Key) -> str:
    """The public key as a PKIX ``PUBLIC KEY`` PEM block."""
    material = key.public().material
    if isinstance(material, bytes):
        raise InvalidKey("symmetric keys have no public part")
    public: Any = material
    pem: bytes = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _fixed(value: int, size: int) -> str:
    return _b64(value.to_bytes(size, "big"))


def public_jwk(key: Key) -> dict[str, Any]:
    """The public key as a JWK object, with the attributes the key carries (as jwx copies them)."""
    pub = key.public()
    material = pub.material
    doc: dict[str, Any] = {"kty": pub.kty}
    if isinstance(material, rsa.RSAPublicKey):
        numbers = material.public_numbers()
        doc["n"] = _b64(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big"))
        doc["e"] = _b64(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big"))
    elif isinstance(material, ec.EllipticCurvePublicKey):
        numbers_ec = material.public_numbers()
        size = (material.curve.key_size + 7) // 8
        doc["crv"] = _CURVE_NAMES.get(material.curve.name, material.curve.name)
        doc["x"] = _fixed(numbers_ec.x, size)
        doc["y"] = _fixed(numbers_ec.y, size)
    elif isinstance(material, ed25519.Ed25519PublicKey | x25519.X25519PublicKey):
        doc["crv"] = "Ed25519" if isinstance(material, ed25519.Ed25519PublicKey) else "X25519"
        doc["x"] = _b64(material.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    else:
        raise InvalidKey("symmetric keys have no public part")
    if pub.kid:
        doc["kid"] = pub.kid
    if pub.alg:
        doc["alg"] = pub.alg
    if pub.use:
        doc["use"] = pub.use
    if pub.key_ops:
        doc["key_ops"] = list(pub.key_ops)
    return dict(sorted(doc.items()))
