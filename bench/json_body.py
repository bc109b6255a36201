"""Cost of Go-style JSON body decoding (``pydapr.api.http.jsonbody``) on the hot bodies.

Compares, per decode, a plain msgspec decoder (the exact-case matching pydapr had before) with
``BodyDecoder`` for: the common exact-case state save body, the same with a case variant key
(``ETag``), and a publish-sized bulk publish body. Pure CPU, no servers.

    python bench/json_body.py [--number 200000]
"""

from __future__ import annotations

import argparse
import timeit

import msgspec

from pydapr.api.http.jsonbody import BodyDecoder


class _PlainOptions(msgspec.Struct):
    concurrency: str = ""
    consistency: str = ""


class _Plain(msgspec.Struct):
    key: str = ""
    value: msgspec.Raw = msgspec.Raw(b"null")
    etag: str | None = None
    metadata: dict[str, str] | None = None
    options: _PlainOptions | None = None


class _Options(msgspec.Struct, forbid_unknown_fields=True):
    concurrency: str = ""
    consistency: str = ""


class _Strict(msgspec.Struct, forbid_unknown_fields=True):
    key: str = ""
    value: msgspec.Raw = msgspec.Raw(b"null")
    etag: str | None = None
    metadata: dict[str, str] | None = None
    options: _Options | None = None


VALUE = msgspec.json.encode({"name": "order-1", "items": list(range(20)), "note": "x" * 200})
EXACT = b'[{"key":"order-1","value":' + VALUE + b',"etag":"3","metadata":{"ttlInSeconds":"60"}}]'
VARIANT = EXACT.replace(b'"etag"', b'"ETag"')


def per_call_ns(fn: object, body: bytes, number: int) -> float:
    timer = timeit.Timer(lambda: fn(body))  # type: ignore[operator]
    return min(timer.repeat(5, number)) / number * 1e9


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--number", type=int, default=200_000)
    args = parser.parse_args()
    plain = msgspec.json.Decoder(list[_Plain]).decode
    strict = BodyDecoder[list[_Strict]](list[_Strict]).decode
    assert strict(VARIANT)[0].etag == "3"
    print(f"body: {len(EXACT)} bytes")
    for label, fn, body in (
        ("plain msgspec, exact-case body", plain, EXACT),
        ("BodyDecoder, exact-case body", strict, EXACT),
        ("BodyDecoder, case-variant key", strict, VARIANT),
    ):
        print(f"{label:34s} {per_call_ns(fn, body, args.number):8.0f} ns")


if __name__ == "__main__":
    main()
