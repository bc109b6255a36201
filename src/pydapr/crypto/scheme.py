"""The ``dapr.io/enc/v1`` encryption scheme (dapr/kit ``schemes/enc/v1``), incremental and transport-free.

A message is a text header then the payload::

    dapr.io/enc/v1\\n
    {"k":"key","kw":1,"wfk":"<wrapped file key>","cph":1,"np":"<7-byte nonce prefix>"}\\n
    <base64 HMAC-SHA-256 of the two lines above, key HKDF(file key, info="header")>\\n
    segment_0 || segment_1 || ...

Each 64 KiB plaintext segment (the last may be shorter; none for an empty message) is sealed with
AES-GCM or ChaCha20-Poly1305 under HKDF(file key, salt=nonce prefix, info="payload") and the nonce
``prefix || segment number (u32 big-endian) || last-segment flag``. So a reordered, dropped, appended
or cut segment fails authentication, and each segment is checked before its plaintext is released.
Both directions take input in chunks of any size and hold at most one segment.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SCHEME_NAME = b"dapr.io/enc/v1"
SEGMENT_SIZE = 64 * 1024
SEGMENT_OVERHEAD = 16
NONCE_PREFIX_SIZE = 7
FILE_KEY_SIZE = 32
MAX_SEGMENTS = 1 << 32

# Key wrap algorithms: name -> manifest id; aliases resolve to names (kit algorithms.go).
KEY_ALGORITHMS = {"A256KW": 1, "A128CBC-NOPAD": 2, "A192CBC-NOPAD": 3, "A256CBC-NOPAD": 4, "RSA-OAEP-256": 5}
KEY_ALGORITHM_ALIASES = {"AES": "A256KW", "RSA": "RSA-OAEP-256"}
_KEY_ALGORITHM_NAMES = {v: k for k, v in KEY_ALGORITHMS.items()}
CIPHERS = {"AES-GCM": 1, "CHACHA20-POLY1305": 2}
_CIPHER_NAMES = {v: k for k, v in CIPHERS.items()}


class SchemeError(Exception):
    """The message is not valid ``dapr.io/enc/v1`` or fails authentication; texts are Dapr's."""


DECRYPTION_KEY_MISSING = "document's manifest does not contain a key name, and no key name was provided"
SIGNATURE_INVALID = "failed to validate the document's signature"
SEGMENT_INVALID = "failed to decrypt segment"


def resolve_key_algorithm(name: str) -> str:
    """A supported key wrap algorithm name, aliases resolved; names are matched as given (callers
    upper-case user input as Dapr does)."""
    resolved = KEY_ALGORITHM_ALIASES.get(name, name)
    if resolved not in KEY_ALGORITHMS:
        raise SchemeError(f"option Algorithm is not valid: algorithm {name} is not supported")
    return resolved


def resolve_cipher(name: str) -> str:
    if name not in CIPHERS:
        raise SchemeError(f"option Cipher is not valid: cipher {name} is not supported")
    return name


def _hkdf(ikm: bytes, salt: bytes | None, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


class FileKey:
    """The per-message key with the header MAC key and payload cipher derived from it."""

    __slots__ = ("_aead", "_header_key", "cipher", "nonce_prefix")

    def __init__(self, file_key: bytes, nonce_prefix: bytes, cipher: str) -> None:
        self.nonce_prefix = nonce_prefix
        self.cipher = cipher
        self._header_key = _hkdf(file_key, None, b"header")
        payload_key = _hkdf(file_key, nonce_prefix, b"payload")
        self._aead: AESGCM | ChaCha20Poly1305 = (
            AESGCM(payload_key) if cipher == "AES-GCM" else ChaCha20Poly1305(payload_key)
        )

    @classmethod
    def generate(cls, cipher: str) -> tuple[FileKey, bytes]:
        """A fresh random file key and nonce prefix; returns the key object and the raw file key."""
        rnd = os.urandom(FILE_KEY_SIZE + NONCE_PREFIX_SIZE)
        return cls(rnd[:FILE_KEY_SIZE], rnd[FILE_KEY_SIZE:], cipher), rnd[:FILE_KEY_SIZE]

    def header_mac(self, manifest: bytes) -> bytes:
        mac = crypto_hmac.HMAC(self._header_key, hashes.SHA256())
        mac.update(SCHEME_NAME + b"\n" + manifest + b"\n")
        return mac.finalize()

    def sign_header(self, manifest: bytes) -> bytes:
        header = SCHEME_NAME + b"\n" + manifest + b"\n" + base64.b64encode(self.header_mac(manifest)) + b"\n"
        if len(header) > SEGMENT_SIZE:
            raise SchemeError("failed to sign header: header is too long")
        return header

    def verify_header(self, manifest: bytes, mac_b64: bytes) -> None:
        try:
            mac = base64.b64decode(mac_b64.replace(b"\r", b""), validate=True)
        except (binascii.Error, ValueError):
            raise SchemeError("failed to decode header's signature: illegal base64 data") from None
        if not hmac.compare_digest(self.header_mac(manifest), mac):
            raise SchemeError(SIGNATURE_INVALID)

    def _nonce(self, index: int, last: bool) -> bytes:
        return self.nonce_prefix + struct.pack(">IB", index, 1 if last else 0)

    def seal(self, index: int, last: bool, plaintext: bytes) -> bytes:
        return self._aead.encrypt(self._nonce(index, last), plaintext, None)

    def open(self, index: int, last: bool, ciphertext: bytes) -> bytes:
        try:
            return self._aead.decrypt(self._nonce(index, last), ciphertext, None)
        except InvalidTag:
            raise SchemeError(f"error processing segment {index}: {SEGMENT_INVALID}") from None


# --- manifest ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Manifest:
    key_name: str
    key_algorithm: str  # resolved name, e.g. "A256KW"
    wrapped_key: bytes
    cipher: str  # "AES-GCM" | "CHACHA20-POLY1305"
    nonce_prefix: bytes

    def encode(self) -> bytes:
        """Compact JSON in Go's field order and string escaping (encoding/json of kit's struct)."""
        parts = []
        if self.key_name:
            parts.append(f'"k":{go_json_string(self.key_name)}')
        parts.append(f'"kw":{KEY_ALGORITHMS[self.key_algorithm]}')
        parts.append(f'"wfk":"{base64.b64encode(self.wrapped_key).decode()}"')
        parts.append(f'"cph":{CIPHERS[self.cipher]}')
        parts.append(f'"np":"{base64.b64encode(self.nonce_prefix).decode()}"')
        return ("{" + ",".join(parts) + "}").encode()

    @classmethod
    def decode(cls, raw: bytes) -> Manifest:
        """Parse and validate; every failure is the same "invalid manifest" (Dapr discloses no more)."""
        try:
            return cls._decode(raw)
        except (ValueError, TypeError, KeyError, binascii.Error):
            raise SchemeError("invalid header: invalid manifest") from None

    @classmethod
    def _decode(cls, raw: bytes) -> Manifest:
        obj = json.loads(raw)
        if not isinstance(obj, dict):
            raise ValueError("not an object")
        # Go's encoding/json matches field names case-insensitively; the last duplicate wins.
        fields: dict[str, Any] = {k.lower(): v for k, v in obj.items()}
        key_name = fields.get("k")
        if key_name is None:
            key_name = ""
        if not isinstance(key_name, str):
            raise ValueError("k")
        kw, cph = fields["kw"], fields["cph"]
        if type(kw) is not int or type(cph) is not int:
            raise ValueError("kw/cph")
        wfk, np_ = fields.get("wfk"), fields.get("np")
        wrapped = base64.b64decode(wfk, validate=True) if wfk is not None else b""
        prefix = base64.b64decode(np_, validate=True) if np_ is not None else b""
        if not wrapped or len(prefix) != NONCE_PREFIX_SIZE:
            raise ValueError("wfk/np")
        return cls(key_name, _KEY_ALGORITHM_NAMES[kw], wrapped, _CIPHER_NAMES[cph], prefix)


_GO_ESCAPES = {"\b": "\\u0008", "\f": "\\u000c", "<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}


def go_json_string(value: str) -> str:
    """A JSON string as Go's encoding/json writes it (HTML-safe, U+2028/9 escaped)."""
    text = json.dumps(value, ensure_ascii=False)
    for char, escaped in _GO_ESCAPES.items():
        text = text.replace(char, escaped)
    text = text.replace("\\b", "\\u0008").replace("\\f", "\\u000c")
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


# --- header --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Header:
    manifest: bytes  # the exact manifest line (the MAC covers these bytes)
    mac: bytes  # base64 text of the MAC line


class HeaderReader:
    """Collects the three header lines from chunks; the bytes after them belong to the payload."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._lines: list[bytes] = []
        self._start = 0
        self.header: Header | None = None
        self.rest = b""

    def feed(self, chunk: bytes) -> bool:
        """Add input; True once the header is complete (then ``header`` and ``rest`` are set)."""
        if self.header is not None:
            self.rest += chunk
            return True
        scan_from = len(self._buf)
        room = SEGMENT_SIZE - len(self._buf)  # a header never exceeds one segment
        self._buf += chunk[:room]
        overflow = chunk[room:]
        pos = scan_from
        while len(self._lines) < 3:
            nl = self._buf.find(b"\n", pos)
            if nl < 0:
                break
            if nl <= self._start:
                raise SchemeError("invalid header: invalid format")
            line = bytes(self._buf[self._start : nl])
            if not self._lines and line != SCHEME_NAME:
                raise SchemeError("invalid header: unsupported scheme")
            self._lines.append(line)
            self._start = pos = nl + 1
        if len(self._lines) == 3:
            self.header = Header(self._lines[1], self._lines[2])
            self.rest = bytes(self._buf[self._start :]) + overflow
            self._buf = bytearray()
            return True
        if overflow or len(self._buf) >= SEGMENT_SIZE:
            self._fail()
        return False

    def finish(self) -> Header:
        """The header at end of input; raises what Dapr reports for the missing part."""
        if self.header is None:
            self._fail()
        assert self.header is not None
        return self.header

    def _fail(self) -> None:
        count = len(self._lines)
        if count == 0:
            raise SchemeError("invalid header: scheme name not found")
        if count == 1:
            raise SchemeError("invalid header: manifest not found")
        raise SchemeError("invalid header: message authentication code not found")


# --- payload -------------------------------------------------------------------------------------


class _Segmenter:
    """Cuts input into segments of ``size`` bytes, keeping one byte of look-ahead so the last
    segment is known to be last (a message of exactly N segments ends with a full one)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._buf = bytearray()
        self._index = 0

    def _next_index(self) -> int:
        index = self._index
        if index >= MAX_SEGMENTS:
            raise SchemeError("input stream is too large")
        self._index += 1
        return index

    def _full(self) -> Iterator[tuple[int, bytes]]:
        buf = self._buf
        while len(buf) > self._size:
            segment = bytes(buf[: self._size])
            del buf[: self._size]
            yield self._next_index(), segment

    def _last(self) -> tuple[int, bytes] | None:
        if not self._buf:
            return None  # empty message: no segments at all
        segment = bytes(self._buf)
        self._buf = bytearray()
        return self._next_index(), segment


class SegmentEncryptor(_Segmenter):
    def __init__(self, file_key: FileKey) -> None:
        super().__init__(SEGMENT_SIZE)
        self._fk = file_key

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        return [self._fk.seal(i, False, seg) for i, seg in self._full()]

    def finish(self) -> bytes:
        last = self._last()
        return b"" if last is None else self._fk.seal(last[0], True, last[1])


class SegmentDecryptor(_Segmenter):
    def __init__(self, file_key: FileKey) -> None:
        super().__init__(SEGMENT_SIZE + SEGMENT_OVERHEAD)
        self._fk = file_key

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        return [self._fk.open(i, False, seg) for i, seg in self._full()]

    def finish(self) -> bytes:
        last = self._last()
        return b"" if last is None else self._fk.open(last[0], True, last[1])


def new_message(
    key_name: str, key_algorithm: str, wrapped_key: bytes, file_key: FileKey
) -> tuple[bytes, SegmentEncryptor]:
    """The signed header for a message and the encryptor for its payload."""
    manifest = Manifest(key_name, key_algorithm, wrapped_key, file_key.cipher, file_key.nonce_prefix)
    return file_key.sign_header(manifest.encode()), SegmentEncryptor(file_key)
