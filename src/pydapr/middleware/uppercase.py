"""``middleware.http.uppercase``: uppercases the request body (and, on request, the response body).

As daprd's built-in (cmd/daprd/components/middleware_http_uppercase.go, dapr/kit streams): metadata
``direction`` is ``request`` (the default, also for any other value), ``response`` or ``both``. Text
is uppercased rune by rune with Go's simple case mapping (``ß`` stays ``ß``, one rune never becomes
two), and each byte that is not valid UTF-8 becomes U+FFFD, as Go's rune reader yields it.
"""

from __future__ import annotations

import codecs
import logging

from pydapr.components.base import ComponentMetadata
from pydapr.http.messages import Headers, Request, Response
from pydapr.middleware.contract import Handler, HttpMiddleware, Middleware

log = logging.getLogger("pydapr.middleware.uppercase")

_DIRECTIONS = {"request": (True, False), "response": (False, True), "both": (True, True)}
_ERRORS = "pydapr.go-rune"


def _one_rune_error(exc: UnicodeError) -> tuple[str, int]:
    # Go's bufio.ReadRune consumes one byte of an invalid sequence and yields U+FFFD for it.
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return "\ufffd", exc.start + 1


codecs.register_error(_ERRORS, _one_rune_error)


class _SimpleUpper(dict[int, str]):
    """A ``str.translate`` table filled on demand with Go's ``unicode.ToUpper`` of each code point."""

    def __missing__(self, cp: int) -> str:
        ch = chr(cp)
        upper = ch.upper()
        if len(upper) != 1:
            # Python applies the full (SpecialCasing) mapping; where that expands, the simple one is
            # the title-case letter when it is a single one (ᾳ → ᾼ), else none (ß, ŉ, ﬀ stay).
            title = ch.title()
            upper = title if len(title) == 1 else ch
        self[cp] = upper
        return upper


_UPPER = _SimpleUpper()


def uppercase(data: bytes) -> bytes:
    if data.isascii():
        return data.upper()
    return data.decode("utf-8", _ERRORS).translate(_UPPER).encode("utf-8")


def _with_length(headers: Headers, length: int) -> None:
    if "content-length" in headers:
        headers.set("content-length", str(length))


class UppercaseMiddleware(HttpMiddleware):
    request_body = True
    response_body = False

    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        direction = (metadata.get("direction") or "").lower()
        if direction and direction not in _DIRECTIONS:
            log.warning(
                "%s: unknown direction %r; uppercasing requests only, as Dapr does", metadata.name, direction
            )
        self.request_body, self.response_body = _DIRECTIONS.get(direction, (True, False))

    def handler(self) -> Middleware:
        on_request, on_response = self.request_body, self.response_body

        async def uppercase_body(req: Request, call_next: Handler) -> Response:
            if on_request and req.body:
                req.body = uppercase(req.body)
                _with_length(req.headers, len(req.body))
            resp = await call_next(req)
            if on_response and resp.body:
                resp.body = uppercase(resp.body)
                _with_length(resp.headers, len(resp.body))
            return resp

        return uppercase_body
