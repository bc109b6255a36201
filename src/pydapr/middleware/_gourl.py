"""Go ``net/url`` readings of a request target, where Dapr's middlewares depend on them.

``Request.path`` holds the raw (percent-encoded) path as latin-1 text; Go's ``URL.Path`` is its
decoded form and ``URL.EscapedPath()`` the raw form when that is a valid encoding, else a
re-encoding of the decoded path.
"""

from __future__ import annotations

import string
from urllib.parse import quote, quote_plus, unquote_to_bytes

# Characters Go's validEncoded accepts unescaped in a path (RFC 3986 pchar, '/', brackets, '%').
_VALID_IN_PATH = frozenset(string.ascii_letters + string.digits + "-_.~!$&'()*+,;=:@[]%/")
# What Go's escape(s, encodePath) leaves alone besides the unreserved characters.
_PATH_SAFE = "$&+,/:;=@"
_HEX = frozenset(string.hexdigits)


def raw_bytes(raw: str) -> bytes:
    try:
        return raw.encode("latin-1")
    except UnicodeEncodeError:
        return raw.encode("utf-8", "surrogateescape")


def decoded_path(raw: str) -> str:
    """Go's ``URL.Path``: percent-escapes decoded; bytes that are not UTF-8 kept as surrogates."""
    return unquote_to_bytes(raw_bytes(raw)).decode("utf-8", "surrogateescape")


def escape_path(path: str) -> str:
    """Go's ``escape(path, encodePath)``."""
    return quote(path.encode("utf-8", "surrogateescape"), safe=_PATH_SAFE)


def escaped_path(raw: str) -> str:
    """Go's ``URL.EscapedPath()`` for a path received as ``raw``."""
    if not raw:
        return ""
    if all(c in _VALID_IN_PATH for c in raw):
        return raw
    return escape_path(decoded_path(raw))


def _query_unescape(text: str) -> str:
    """Go's ``url.QueryUnescape``: '+' is a space; a malformed escape is an error."""
    data = raw_bytes(text)
    i = data.find(b"%")
    while i != -1:
        if i + 2 >= len(data) or chr(data[i + 1]) not in _HEX or chr(data[i + 2]) not in _HEX:
            raise ValueError(text)
        i = data.find(b"%", i + 3)
    return unquote_to_bytes(data.replace(b"+", b" ")).decode("utf-8", "surrogateescape")


def parse_query(raw: str) -> dict[str, list[str]]:
    """Go's ``url.ParseQuery`` as ``URL.Query()`` uses it: bad pairs (';', bad escapes) dropped."""
    values: dict[str, list[str]] = {}
    for pair in raw.split("&"):
        if not pair or ";" in pair:
            continue
        key, _, value = pair.partition("=")
        try:
            key, value = _query_unescape(key), _query_unescape(value)
        except ValueError:
            continue
        values.setdefault(key, []).append(value)
    return values


def encode_query(values: dict[str, list[str]]) -> str:
    """Go's ``url.Values.Encode``: keys sorted, each value ``QueryEscape``d."""

    def esc(s: str) -> str:
        return quote_plus(s.encode("utf-8", "surrogateescape"), safe="")

    return "&".join(f"{esc(k)}={esc(v)}" for k in sorted(values) for v in values[k])
