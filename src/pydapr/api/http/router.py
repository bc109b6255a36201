"""Path routing for the Dapr HTTP API: ``/v1.0/state/{storeName}/{key}`` style patterns.

Matching walks a tree of literal segments first, then parameters, so a lookup costs one dict
access per segment whatever the number of routes. A trailing ``{name:*}`` captures the rest of
the path (used for invocation method paths, which may contain slashes).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote

from pydapr import errors
from pydapr.http.messages import Request, Response

RouteHandler = Callable[[Request, dict[str, str]], Awaitable[Response]]


@dataclass(slots=True)
class _Node:
    literals: dict[str, _Node] = field(default_factory=dict)
    param: tuple[str, _Node] | None = None
    rest: tuple[str, dict[str, RouteHandler]] | None = None
    handlers: dict[str, RouteHandler] = field(default_factory=dict)


class Router:
    """``serves(pattern)`` decides which routes exist at all (``spec.api`` allowed / denied): a route
    it refuses is never added, so it answers as an unknown path, as in daprd, at no cost per request."""

    def __init__(self, serves: Callable[[str], bool] | None = None) -> None:
        self._root = _Node()
        self._serves = serves
        # (verb, pattern) in the order added, for the OpenAPI document's coverage test.
        self._routes: list[tuple[str, str]] = []
        # The pattern each node's handlers were added under, by the handlers dict's id: a matched
        # request is logged and measured by its route (/v1.0/state/{storeName}/{key}), not its path.
        self._pattern_of: dict[int, str] = {}

    def serves(self, pattern: str) -> bool:
        return self._serves is None or self._serves(pattern)

    def add(self, methods: str | Iterable[str], pattern: str, handler: RouteHandler) -> None:
        if self._serves is not None and not self._serves(pattern):
            return
        verbs = [methods] if isinstance(methods, str) else list(methods)
        self._routes.extend((verb, pattern) for verb in verbs)
        node = self._root
        segments = [s for s in pattern.strip("/").split("/") if s]
        for i, seg in enumerate(segments):
            if seg.startswith("{") and seg.endswith(":*}"):
                if i != len(segments) - 1:
                    raise ValueError(f"catch-all must be last in {pattern}")
                name = seg[1:-3]
                if node.rest is None:
                    node.rest = (name, {})
                for verb in verbs:
                    node.rest[1][verb] = handler
                self._pattern_of[id(node.rest[1])] = pattern
                return
            if seg.startswith("{") and seg.endswith("}"):
                name = seg[1:-1]
                if node.param is None:
                    node.param = (name, _Node())
                elif node.param[0] != name:
                    raise ValueError(f"conflicting parameter names at {pattern}")
                node = node.param[1]
            else:
                node = node.literals.setdefault(seg, _Node())
        for verb in verbs:
            node.handlers[verb] = handler
        self._pattern_of[id(node.handlers)] = pattern

    def routes(self) -> list[tuple[str, str]]:
        """Every (verb, pattern) served, as added; ``*`` is any verb."""
        return list(self._routes)

    def match(self, method: str, path: str) -> tuple[RouteHandler, dict[str, str]] | None:
        """Find the handler for ``path``; None when no route matches the path at all.

        A path that matches but not for this verb raises ERR_METHOD_NOT_ALLOWED.
        """
        found = self.match_route(method, path)
        return None if found is None else (found[0], found[1])

    def match_route(self, method: str, path: str) -> tuple[RouteHandler, dict[str, str], str] | None:
        """As ``match``, with the pattern of the route that matched."""
        segments = path.strip("/").split("/") if path not in ("", "/") else []
        params: dict[str, str] = {}
        found = self._walk(self._root, segments, 0, params)
        if found is None:
            return None
        handlers = found
        handler = handlers.get(method)
        if handler is None and method == "HEAD":
            # HEAD is answered wherever GET is (the server sends the headers without the body), so
            # probes such as `HEAD /v1.0/healthz` work as they do against daprd.
            handler = handlers.get("GET")
        handler = handler or handlers.get("*")
        if handler is None:
            raise errors.METHOD_NOT_ALLOWED(method, path)
        return handler, params, self._pattern_of.get(id(handlers), "")

    def _walk(
        self, node: _Node, segments: list[str], i: int, params: dict[str, str]
    ) -> dict[str, RouteHandler] | None:
        if i == len(segments):
            if node.handlers:
                return node.handlers
            if node.rest is not None:
                params[node.rest[0]] = ""
                return node.rest[1]
            return None
        seg = segments[i]
        child = node.literals.get(seg)
        if child is not None:
            found = self._walk(child, segments, i + 1, params)
            if found is not None:
                return found
        if node.param is not None and seg:
            name, child = node.param
            found = self._walk(child, segments, i + 1, params)
            if found is not None:
                params[name] = unquote(seg)
                return found
        if node.rest is not None:
            # The rest stays percent-encoded: it is forwarded as a path, not interpreted here.
            params[node.rest[0]] = "/".join(segments[i:])
            return node.rest[1]
        return None
