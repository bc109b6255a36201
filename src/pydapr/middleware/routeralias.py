"""``middleware.http.routeralias``: rewrites a request whose path matches an alias to its target path.

As components-contrib's (gorilla/mux routes): metadata ``routes`` is a JSON or YAML map from a path
template to the target path. Templates match the whole decoded path; ``{name}`` matches one segment
and ``{name:regex}`` a regex. The query is kept; matched variables are added to it and the query is
then re-encoded as Go's ``url.Values.Encode`` does (keys sorted). A request that matches no alias
passes unchanged. Legacy form (deprecated in Dapr, still read): with no ``routes`` value, or more
than one property, every property is a template → target pair. Where aliases overlap, the first
listed wins (Dapr's order there is Go's random map order). A template mux would refuse (unbalanced
braces, no leading slash, capturing groups) never matches in Dapr: it is skipped with a warning.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import yaml

from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.http.messages import Request, Response
from pydapr.middleware._gourl import decoded_path, encode_query, escape_path, parse_query
from pydapr.middleware.contract import Handler, HttpMiddleware, Middleware

log = logging.getLogger("pydapr.middleware.routeralias")

_DEFAULT_VAR_PATTERN = "[^/]+"


class TemplateError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Alias:
    template: str
    pattern: re.Pattern[str]
    variables: tuple[str, ...]
    target: str

    def match(self, path: str) -> dict[str, str] | None:
        m = self.pattern.match(path)
        if m is None:
            return None
        return {name: m.group(f"v{i}") for i, name in enumerate(self.variables)}


def _brace_spans(template: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    level = start = 0
    for i, c in enumerate(template):
        if c == "{":
            level += 1
            if level == 1:
                start = i
        elif c == "}":
            level -= 1
            if level == 0:
                spans.append((start, i + 1))
            elif level < 0:
                raise TemplateError(f"unbalanced braces in {template!r}")
    if level != 0:
        raise TemplateError(f"unbalanced braces in {template!r}")
    return spans


def compile_template(template: str, target: str) -> Alias:
    """A mux path template as a regex matching the whole path, one named group per variable."""
    if not template.startswith("/"):
        raise TemplateError(f"path must start with a slash, got {template!r}")
    parts = ["^"]
    names: list[str] = []
    end = 0
    for start, stop in _brace_spans(template):
        name, sep, patt = template[start + 1 : stop - 1].partition(":")
        if not sep:
            patt = _DEFAULT_VAR_PATTERN
        if not name or not patt:
            raise TemplateError(f"missing name or pattern in {template[start:stop]!r}")
        parts.append(re.escape(template[end:start]))
        parts.append(f"(?P<v{len(names)}>{patt})")
        names.append(name)
        end = stop
    parts.append(re.escape(template[end:]))
    parts.append(r"\Z")
    try:
        pattern = re.compile("".join(parts))
    except re.error as exc:
        raise TemplateError(f"invalid pattern in {template!r}: {exc}") from None
    if pattern.groups != len(names):
        raise TemplateError(
            f"route {template!r} contains capture groups in its regexp; only non-capturing groups "
            "(?:pattern) are accepted"
        )
    return Alias(template, pattern, tuple(names), target)


def _scalar(node: yaml.Node, meta: ComponentMetadata) -> str:
    if not isinstance(node, yaml.ScalarNode):
        raise ComponentConfigError(
            meta.name,
            "routes",
            f"failed to decode 'routes' property as JSON or YAML: line {node.start_mark.line + 1}: "
            f"cannot unmarshal {node.tag} into a string",
        )
    return "" if node.tag == "tag:yaml.org,2002:null" else str(node.value)


def parse_routes(text: str, meta: ComponentMetadata) -> list[tuple[str, str]]:
    """The ``routes`` map in document order; scalars taken as written, as yaml.v3 reads a map of strings."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ComponentConfigError(
            meta.name, "routes", f"failed to decode 'routes' property as JSON or YAML: {exc}"
        ) from None
    if root is None:
        return []
    if not isinstance(root, yaml.MappingNode):
        raise ComponentConfigError(
            meta.name,
            "routes",
            f"failed to decode 'routes' property as JSON or YAML: cannot unmarshal {root.tag} into a map",
        )
    routes: list[tuple[str, str]] = []
    seen: set[str] = set()
    for key_node, value_node in root.value:
        key = _scalar(key_node, meta)
        if key in seen:
            raise ComponentConfigError(
                meta.name,
                "routes",
                f"failed to decode 'routes' property as JSON or YAML: line {key_node.start_mark.line + 1}: "
                f"mapping key {key!r} already defined",
            )
        seen.add(key)
        routes.append((key, _scalar(value_node, meta)))
    return routes


class RouterAliasMiddleware(HttpMiddleware):
    aliases: tuple[Alias, ...] = ()

    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        props = metadata.all_properties()  # the deprecated form's keys are the routes themselves
        if not props:
            self.aliases = ()
            return
        routes_value = metadata.get("routes") or ""
        if len(props) > 1 or not routes_value:
            log.warning(
                "%s: listing routes as key-value pairs is deprecated; use the 'routes' property instead",
                metadata.name,
            )
            pairs = list(props.items())
            for key, value in pairs:
                if not key or not value:
                    raise ComponentConfigError(
                        metadata.name,
                        key or "routes",
                        "invalid key/value pair in metadata: must not be empty",
                    )
        else:
            pairs = parse_routes(routes_value, metadata)
        aliases: list[Alias] = []
        for template, target in pairs:
            try:
                aliases.append(compile_template(template, target))
            except TemplateError as exc:
                log.warning("%s: alias %r never matches (as in Dapr): %s", metadata.name, template, exc)
        self.aliases = tuple(aliases)

    def handler(self) -> Middleware:
        aliases = self.aliases

        async def rewrite(req: Request, call_next: Handler) -> Response:
            if aliases:
                path = decoded_path(req.path)
                for alias in aliases:
                    found = alias.match(path)
                    if found is None:
                        continue
                    req.path = escape_path(alias.target)
                    if found:
                        query = parse_query(req.query)
                        for name, value in found.items():
                            query.setdefault(name, []).append(value)
                        req.query = encode_query(query)
                    break
            return await call_next(req)

        return rewrite
