"""The ``dapr.io/enc/v1`` scheme: a message built by hand from the spec, Dapr's own vectors, round
trips over every segment boundary, and tampered, truncated or re-keyed messages that must fail."""

from __future__ import annotations

import base64
import json
import os
import random
import struct

import pytest
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pydapr.crypto import scheme
from pydapr.crypto.scheme import SEGMENT_SIZE, FileKey, HeaderReader, Manifest, SchemeError

FILE_KEY = bytes(range(32))
NONCE_PREFIX = b"\x10\x11\x12\x13\x14\x15\x16"


def spec_message(plaintext: bytes, *, cipher_id: int = 1, key_name: str = "mykey") -> bytes:
    """Builds a message following the README of dapr/kit schemes/enc/v1 line by line, sharing no
    code with pydapr's encoder. The "wrapped" file key is the file key itself (Dapr's test vectors
    do the same: wrapping is the provider's business, not the scheme's)."""
    wfk, np_ = base64.b64encode(FILE_KEY).decode(), base64.b64encode(NONCE_PREFIX).decode()
    manifest = f'{{"k":"{key_name}","kw":1,"wfk":"{wfk}","cph":{cipher_id},"np":"{np_}"}}'.encode()
    signed = b"dapr.io/enc/v1\n" + manifest + b"\n"
    mac_key = HKDF(hashes.SHA256(), 32, salt=b"", info=b"header").derive(FILE_KEY)
    mac = hmac.HMAC(mac_key, hashes.SHA256())
    mac.update(signed)
    header = signed + base64.b64encode(mac.finalize()) + b"\n"
    payload_key = HKDF(hashes.SHA256(), 32, salt=NONCE_PREFIX, info=b"payload").derive(FILE_KEY)
    aead = AESGCM(payload_key) if cipher_id == 1 else ChaCha20Poly1305(payload_key)
    chunks = [plaintext[i : i + 65536] for i in range(0, len(plaintext), 65536)]
    body = b""
    for i, chunk in enumerate(chunks):
        nonce = NONCE_PREFIX + i.to_bytes(4, "big") + (b"\x01" if i == len(chunks) - 1 else b"\x00")
        body += aead.encrypt(nonce, chunk, None)
    return header + body


def decrypt(
    message: bytes, *, chunk: int = 1000, file_key: bytes | None = None, out: list[bytes] | None = None
) -> bytes:
    """Feeds ``message`` in chunks, as a stream arrives; segments released so far land in ``out``."""
    released = out if out is not None else []
    reader = HeaderReader()
    pos = 0
    while pos < len(message) and not reader.feed(message[pos : pos + chunk]):
        pos += chunk
    pos += chunk
    header = reader.header or reader.finish()
    manifest = Manifest.decode(header.manifest)
    fk = FileKey(
        file_key if file_key is not None else manifest.wrapped_key, manifest.nonce_prefix, manifest.cipher
    )
    fk.verify_header(header.manifest, header.mac)
    dec = scheme.SegmentDecryptor(fk)
    released.extend(dec.feed(reader.rest))
    while pos < len(message):
        released.extend(dec.feed(message[pos : pos + chunk]))
        pos += chunk
    released.append(dec.finish())
    return b"".join(released)


def encrypt(
    plaintext: bytes, cipher: str = "AES-GCM", *, chunk: int = 2048, key_name: str = "mykey"
) -> bytes:
    fk, raw = FileKey.generate(cipher)
    header, enc = scheme.new_message(key_name, "A256KW", raw, fk)
    out = [header]
    for i in range(0, len(plaintext), chunk):
        out.extend(enc.feed(plaintext[i : i + chunk]))
    out.append(enc.finish())
    return b"".join(out)


def segments_of(message: bytes) -> tuple[bytes, list[bytes]]:
    end = 0
    for _ in range(3):
        end = message.index(b"\n", end) + 1
    body = message[end:]
    size = SEGMENT_SIZE + 16
    return message[:end], [body[i : i + size] for i in range(0, len(body), size)]


PATTERN = bytes([1, 2, 3, 4, 5, 6, 7, 8])


@pytest.mark.parametrize("cipher_id", [1, 2])
@pytest.mark.parametrize("size", [0, 11, SEGMENT_SIZE, SEGMENT_SIZE + 1, 2 * SEGMENT_SIZE, 300 * 1024])
def test_a_message_built_from_the_spec_decrypts(size: int, cipher_id: int) -> None:
    plaintext = (PATTERN * (size // 8 + 1))[:size]
    assert decrypt(spec_message(plaintext, cipher_id=cipher_id)) == plaintext


@pytest.mark.parametrize("cipher", ["AES-GCM", "CHACHA20-POLY1305"])
def test_the_encoder_writes_what_the_spec_describes_byte_for_byte(cipher: str) -> None:
    # Fixed key and nonce prefix: the whole message is determined, so both must agree exactly.
    plaintext = (PATTERN * 20000)[: SEGMENT_SIZE * 2 + 5]
    fk = FileKey(FILE_KEY, NONCE_PREFIX, cipher)
    header, enc = scheme.new_message("mykey", "A256KW", FILE_KEY, fk)
    ours = header + b"".join(enc.feed(plaintext)) + enc.finish()
    assert ours == spec_message(plaintext, cipher_id=scheme.CIPHERS[cipher])


@pytest.mark.parametrize("cipher", ["AES-GCM", "CHACHA20-POLY1305"])
@pytest.mark.parametrize(
    "size", [0, 1, SEGMENT_SIZE - 1, SEGMENT_SIZE, SEGMENT_SIZE + 1, 2 * SEGMENT_SIZE, 5 * SEGMENT_SIZE + 3]
)
def test_round_trip_over_segment_boundaries_in_any_chunking(size: int, cipher: str) -> None:
    plaintext = os.urandom(size)
    chunk = random.Random(size).choice([1, 17, 2048, 65536, 65553, 200000])
    message = encrypt(plaintext, cipher, chunk=chunk)
    header, segs = segments_of(message)
    assert header.startswith(b"dapr.io/enc/v1\n")
    assert len(segs) == -(-size // SEGMENT_SIZE)
    assert sum(len(s) for s in segs) == size + 16 * len(segs)
    assert decrypt(message, chunk=max(1, chunk // 3)) == plaintext


def test_manifest_carries_key_name_algorithm_cipher_and_nonce_prefix() -> None:
    message = encrypt(b"x", "CHACHA20-POLY1305", key_name='a<b>&"c"')
    manifest_line = message.split(b"\n")[1]
    doc = json.loads(manifest_line)
    assert doc["k"] == 'a<b>&"c"' and doc["kw"] == 1 and doc["cph"] == 2
    assert len(base64.b64decode(doc["np"])) == 7 and len(base64.b64decode(doc["wfk"])) == 32
    # Go's encoder escapes HTML characters; so does ours, so manifests match Dapr's bytes.
    assert b"\\u003c" in manifest_line and b"\\u0026" in manifest_line
    assert list(doc) == ["k", "kw", "wfk", "cph", "np"]


def three_segment_message() -> tuple[bytes, bytes]:
    plaintext = os.urandom(2 * SEGMENT_SIZE + 100)
    return plaintext, encrypt(plaintext)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_a_tampered_segment_fails_and_nothing_of_it_is_released(index: int) -> None:
    plaintext, message = three_segment_message()
    header, segs = segments_of(message)
    segs[index] = segs[index][:5] + bytes([segs[index][5] ^ 1]) + segs[index][6:]
    released: list[bytes] = []
    with pytest.raises(SchemeError, match=f"error processing segment {index}: failed to decrypt segment"):
        decrypt(header + b"".join(segs), out=released)
    # Only the segments before the bad one, each authenticated, came out.
    assert b"".join(released) == plaintext[: index * SEGMENT_SIZE]


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda h, s: h + s[0] + s[1], id="last-segment-dropped"),
        pytest.param(lambda h, s: h + s[0] + s[1] + s[2][:-1], id="cut-inside-last-segment"),
        pytest.param(lambda h, s: h + s[0] + s[1][:100], id="cut-inside-a-segment"),
        pytest.param(lambda h, s: h + s[1] + s[0] + s[2], id="segments-swapped"),
        pytest.param(lambda h, s: h + s[0] + s[1] + s[2] + s[2], id="segment-appended"),
        pytest.param(lambda h, s: h + s[0] + s[1] + s[2] + b"x", id="byte-appended"),
    ],
)
def test_truncated_reordered_or_extended_messages_fail(mutate) -> None:  # type: ignore[no-untyped-def]
    _, message = three_segment_message()
    header, segs = segments_of(message)
    with pytest.raises(SchemeError, match="failed to decrypt segment"):
        decrypt(mutate(header, segs))


def test_a_message_cut_after_its_header_is_an_empty_message_as_in_dapr() -> None:
    # The format cannot tell "no segments" from "all segments removed": an empty message has none.
    _, message = three_segment_message()
    header, _ = segments_of(message)
    assert decrypt(header) == b""


def test_a_changed_manifest_or_mac_fails_the_signature() -> None:
    message = encrypt(b"secret")
    line0, manifest, mac, rest = message.split(b"\n", 3)
    other = manifest.replace(b'"k":"mykey"', b'"k":"mykeY"')
    with pytest.raises(SchemeError, match="failed to validate the document's signature"):
        decrypt(b"\n".join([line0, other, mac, rest]))
    bad_mac = base64.b64encode(bytes(32))
    with pytest.raises(SchemeError, match="failed to validate the document's signature"):
        decrypt(b"\n".join([line0, manifest, bad_mac, rest]))


def test_a_wrong_file_key_fails_the_signature_before_any_segment() -> None:
    message = encrypt(b"secret")
    with pytest.raises(SchemeError, match="failed to validate the document's signature"):
        decrypt(message, file_key=bytes(32))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"foo", "invalid header: scheme name not found"),
        (b"invalidscheme\nfoo", "invalid header: unsupported scheme"),
        (b"dapr.io/enc/v1\n\n", "invalid header: invalid format"),
        (b"\n", "invalid header: invalid format"),
        (b"dapr.io/enc/v1\n{}", "invalid header: manifest not found"),
        (b"dapr.io/enc/v1\n{}\n", "invalid header: message authentication code not found"),
    ],
)
def test_header_errors_say_what_is_missing(raw: bytes, message: str) -> None:
    reader = HeaderReader()
    with pytest.raises(SchemeError, match=message):
        reader.feed(raw)
        reader.finish()


def test_a_header_longer_than_a_segment_is_refused() -> None:
    reader = HeaderReader()
    reader.feed(b"dapr.io/enc/v1\n")
    with pytest.raises(SchemeError, match="manifest not found"):
        reader.feed(b"x" * SEGMENT_SIZE)


@pytest.mark.parametrize(
    "manifest",
    [
        b"notjson",
        b'{"wk":"foo"}',
        b"[]",
        b'{"kw":9,"wfk":"AAAA","cph":1,"np":"AAAAAAAAAA=="}',
        b'{"kw":1,"wfk":"AAAA","cph":3,"np":"AAAAAAAAAA=="}',
        b'{"kw":"1","wfk":"AAAA","cph":1,"np":"AAAAAAAAAA=="}',
        b'{"kw":1.0,"wfk":"AAAA","cph":1,"np":"AAAAAAAAAA=="}',
        b'{"kw":1,"wfk":"","cph":1,"np":"AAAAAAAAAA=="}',
        b'{"kw":1,"wfk":"AAAA","cph":1,"np":"AAAA"}',
        b'{"k":5,"kw":1,"wfk":"AAAA","cph":1,"np":"AAAAAAAAAA=="}',
    ],
)
def test_invalid_manifests_are_one_opaque_error(manifest: bytes) -> None:
    with pytest.raises(SchemeError, match=r"^invalid header: invalid manifest$"):
        Manifest.decode(manifest)


def test_manifest_field_names_match_case_insensitively_as_in_go() -> None:
    m = Manifest.decode(b'{"K":"x","KW":5,"WFK":"AAAA","Cph":2,"NP":"AAAAAAAAAA=="}')
    assert (m.key_name, m.key_algorithm, m.cipher, m.wrapped_key) == (
        "x",
        "RSA-OAEP-256",
        "CHACHA20-POLY1305",
        b"\0\0\0",
    )


def test_algorithm_and_cipher_names_and_aliases() -> None:
    assert scheme.resolve_key_algorithm("AES") == "A256KW"
    assert scheme.resolve_key_algorithm("RSA") == "RSA-OAEP-256"
    assert scheme.resolve_key_algorithm("A128CBC-NOPAD") == "A128CBC-NOPAD"
    with pytest.raises(SchemeError, match="algorithm A128KW is not supported"):
        scheme.resolve_key_algorithm("A128KW")
    with pytest.raises(SchemeError, match="cipher AES-CBC is not supported"):
        scheme.resolve_cipher("AES-CBC")


def test_nonce_layout_is_prefix_counter_and_last_flag() -> None:
    fk = FileKey(FILE_KEY, NONCE_PREFIX, "AES-GCM")
    payload_key = HKDF(hashes.SHA256(), 32, salt=NONCE_PREFIX, info=b"payload").derive(FILE_KEY)
    sealed = fk.seal(258, True, b"data")
    assert (
        AESGCM(payload_key).decrypt(NONCE_PREFIX + struct.pack(">I", 258) + b"\x01", sealed, None) == b"data"
    )
