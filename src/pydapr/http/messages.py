"""Request and response values shared by the HTTP server, the HTTP client and the API handlers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class Headers:
    """An ordered multi-map of header fields; names are stored lower-cased, values as received."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = [(k.lower(), v) for k, v in items]

    @classmethod
    def from_lowercase(cls, items: list[tuple[str, str]]) -> Headers:
        """Wrap a list whose names are already lower-case (the parsers' fast path), without copying."""
        h = cls.__new__(cls)
        h._items = items
        return h

    def get(self, name: str, default: str | None = None) -> str | None:
        name = name.lower()
        for k, v in self._items:
            if k == name:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self._items if k == name]

    def add(self, name: str, value: str) -> None:
        self._items.append((name.lower(), value))

    def set(self, name: str, value: str) -> None:
        name = name.lower()
        self._items = [(k, v) for k, v in self._items if k != name]
        self._items.append((name, value))

    def remove(self, name: str) -> None:
        name = name.lower()
        self._items = [(k, v) for k, v in self._items if k != name]

    def items(self) -> list[tuple[str, str]]:
        return self._items

    def copy(self) -> Headers:
        return Headers.from_lowercase(list(self._items))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


class Request:
    """One HTTP request with its whole body read (bodies are bounded by --max-body-size)."""

    __slots__ = ("body", "client", "headers", "identity", "method", "path", "query", "route")

    def __init__(
        self,
        method: str,
        path: str,
        query: str = "",
        headers: Headers | None = None,
        body: bytes = b"",
        client: tuple[str, int] | None = None,
    ) -> None:
        self.method = method  # upper-case verb
        self.path = path  # raw (still percent-encoded) path, no query
        self.query = query  # raw query string without the '?', '' when absent
        self.headers = headers if headers is not None else Headers()
        self.body = body
        self.client = client
        # The caller's verified SPIFFE id (pydapr.security.spiffe.SpiffeId) on an mTLS listener.
        self.identity: Any = None
        # The API route that matched (``/v1.0/state/{storeName}/{key}``), "" before routing or
        # when none did (set by pydapr.api.http.dispatch.Routes).
        self.route = ""

    @property
    def target(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path


class Response:
    """One HTTP response; the server adds Content-Length, Date and connection handling."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int = 200, headers: Headers | None = None, body: bytes = b"") -> None:
        self.status = status
        self.headers = headers if headers is not None else Headers()
        self.body = body

    @classmethod
    def json(cls, body: bytes, status: int = 200) -> Response:
        return cls(status, Headers.from_lowercase([("content-type", "application/json")]), body)

    @classmethod
    def empty(cls, status: int = 204) -> Response:
        return cls(status)
