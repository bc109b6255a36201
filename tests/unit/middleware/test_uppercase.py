"""middleware.http.uppercase: request bodies (and with ``direction`` responses) uppercased as Go does."""

from __future__ import annotations

import logging

import pytest

from pydapr.middleware.uppercase import uppercase
from tests.unit.middleware.conftest import pipeline


async def test_request_body_uppercased_before_the_next_step() -> None:
    p = await pipeline("uppercase")
    resp = await p.send(body=b"hello", headers=[("content-length", "5")])
    assert p.echo.last.body == b"HELLO"
    assert resp.body == b"HELLO"  # the echo answers with what it got; the response itself is untouched


async def test_response_only() -> None:
    p = await pipeline("uppercase", direction="Response")
    resp = await p.send(body=b"hello")
    assert p.echo.last.body == b"hello"
    assert resp.body == b"HELLO"


async def test_both_directions() -> None:
    p = await pipeline("uppercase", direction="both")
    resp = await p.send(body=b"abc")
    assert (p.echo.last.body, resp.body) == (b"ABC", b"ABC")


async def test_unknown_direction_is_request_only_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "pydapr.middleware.uppercase"):
        p = await pipeline("uppercase", direction="sideways")
    assert "unknown direction 'sideways'" in caplog.text
    resp = await p.send(body=b"abc")
    assert p.echo.last.body == b"ABC"
    assert resp.body == b"ABC"


async def test_empty_body_and_content_length_follow_the_new_body() -> None:
    p = await pipeline("uppercase")
    await p.send(body=b"")
    assert p.echo.last.body == b""
    # dotless i is two bytes, 'I' one: the declared length must follow.
    await p.send(body="\u0131".encode(), headers=[("content-length", "2")])
    assert p.echo.last.body == b"I"
    assert p.echo.last.headers.get("content-length") == "1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello world", "HELLO WORLD"),
        ("UPPERCASE", "UPPERCASE"),
        # dapr/kit streams tests
        (
            "Nel mezzo del cammin di nostra vita mi ritrovai per una selva oscura, "
            "ché la diritta via era smarrita.",
            "NEL MEZZO DEL CAMMIN DI NOSTRA VITA MI RITROVAI PER UNA SELVA OSCURA, "
            "CHÉ LA DIRITTA VIA ERA SMARRITA.",
        ),
        ("😀ciao👩‍👩‍👦‍👦", "😀CIAO👩‍👩‍👦‍👦"),
        # Go's simple case mapping: no rune becomes two
        ("straße", "STRAßE"),
        ("ﬀ ŉ ǰ", "ﬀ ŉ ǰ"),
        ("ᾳ ᾀ", "ᾼ ᾈ"),
        ("\u0131 \u017f \u00b5 \u01c5", "I S \u039c \u01c4"),  # dotless i, long s, micro, Dz
    ],
)
def test_go_case_mapping(text: str, expected: str) -> None:
    assert uppercase(text.encode()) == expected.encode()


def test_invalid_utf8_each_byte_becomes_a_replacement_rune() -> None:
    # bufio.ReadRune consumes one byte per invalid sequence: a truncated 3-byte rune gives two U+FFFD.
    assert uppercase(b"a\xe2\x82b\xffc") == "A\ufffd\ufffdB\ufffdC".encode()
    assert uppercase(b"\xed\xa0\x80") == "\ufffd\ufffd\ufffd".encode()  # an encoded surrogate
