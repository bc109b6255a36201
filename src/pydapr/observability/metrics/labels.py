"""What the label values of a metric may be: Dapr's cardinality rules.

* The HTTP ``path`` label (dapr/dapr pkg/diagnostics/http_monitoring.go ``getMetricsPath``): by
  default (``spec.metric.http.increasedCardinality: false``, Dapr 1.14+) it is empty, so a million
  distinct URLs make one series; ``pathMatching`` patterns give it the pattern that matched;
  ``increasedCardinality: true`` is Dapr's legacy label (ids cut from state, secrets and actor paths).
* The ``method`` label is one of the HTTP verbs or ``UNKNOWN`` (empty with ``excludeVerbs``).
* ``spec.metric.rules``: regex rewrites of one label of one metric, applied before recording, so a
  rule that folds values folds series too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydapr.resources.models import MetricRule, MetricSpec

Rewrites = Sequence[
    tuple[int, Sequence[tuple[re.Pattern[str], str]]]
]  # by label position: (regex, replacement)

STATIC_PATHS = frozenset({"/dapr/config", "/dapr/metrics", "/dapr/subscribe", "/healthz"})
HTTP_VERBS = frozenset({"GET", "PUT", "POST", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE"})


def normalize_path(path: str) -> str:
    while "//" in path:
        path = path.replace("//", "/")
    return path if path.startswith("/") else "/" + path


class PathMatcher:
    """``spec.metric.http.pathMatching``: Go ServeMux patterns (``/orders/{id}``, ``/static/``), each
    also registered under ``/v1.0/invoke/{app_id}/method`` as Dapr does. The most specific pattern
    wins (more literal segments, then more segments, then exact over prefix)."""

    def __init__(self, patterns: Sequence[str]) -> None:
        cleaned = set()
        for raw in patterns:
            pattern = normalize_path(raw)
            cleaned.add(pattern)
            if not pattern.startswith("/v1.0/invoke/"):
                cleaned.add("/v1.0/invoke/{app_id}/method" + pattern)
        self.has_root = "/" in cleaned
        self._patterns = sorted((_Pattern(p) for p in cleaned), key=lambda p: p.rank, reverse=True)

    def match(self, path: str) -> str | None:
        segments = normalize_path(path).split("/")[1:]
        for pattern in self._patterns:
            if pattern.matches(segments):
                return pattern.text
        return None


class _Pattern:
    __slots__ = ("prefix", "rank", "segments", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        parts = text.split("/")[1:]
        # "/dir/" and "/dir/{rest...}" match what is below /dir/; anything else matches exactly.
        self.prefix = text.endswith("/") or (bool(parts) and parts[-1].endswith("...}"))
        if self.prefix:
            parts = parts[:-1]
        self.segments = tuple(None if p.startswith("{") and p.endswith("}") else p for p in parts)
        literals = sum(1 for s in self.segments if s is not None)
        self.rank = (literals, len(self.segments), not self.prefix)

    def matches(self, segments: list[str]) -> bool:
        mine = self.segments
        if len(segments) <= len(mine) if self.prefix else len(segments) != len(mine):
            return False
        return all(want is None or want == got for want, got in zip(mine, segments, strict=False))


def legacy_path(path: str) -> str:
    """Dapr's legacy label (``convertPathToMetricLabel``): ids cut from state, secrets, actors and
    workflow paths, everything else as it came."""
    if not path:
        return path
    path = normalize_path(path)
    parts = path[1:].split("/", 5)
    if len(parts) < 3:
        return path
    if parts[0] == "actors":
        parts[2] = "{id}"
        return "/".join(parts)
    api = parts[1]
    if api in ("state", "secrets"):
        return "/" + "/".join(parts[0:3])
    if api == "actors":
        if len(parts) < 5:
            return path
        parts[3] = "{id}"
        return "/" + "/".join(parts[0:5])
    if api == "workflows":
        if len(parts) < 4:
            return path
        if len(parts) == 4:
            parts[3] = "{instanceId}"
            return "/" + "/".join(parts[0:4])
        if len(parts) == 5 and parts[4].startswith("start"):
            return "/" + "/".join(parts[0:4]) + "/start"
        parts[3] = "{instanceId}"
        if len(parts) == 6 and parts[4] == "raiseEvent" and parts[5]:
            parts[5] = "{eventName}"
            return "/" + "/".join(parts[0:6])
        return "/" + "/".join(parts[0:5])
    return path


class HttpLabels:
    """The ``method`` and ``path`` labels of the HTTP server and client metrics."""

    def __init__(self, spec: MetricSpec) -> None:
        self.legacy = spec.increased_cardinality
        self.exclude_verbs = spec.exclude_verbs
        self.matcher = PathMatcher(spec.path_matching) if spec.path_matching else None

    def method(self, method: str) -> str:
        if method in HTTP_VERBS:
            return "" if self.exclude_verbs else method
        return "" if self.exclude_verbs else "UNKNOWN"

    def path(self, path: str, *, server: bool = False) -> str:
        """``server``: the public API, where daprd drops the path before anything else by default;
        its client (the app channel) keeps the static paths (``/dapr/config`` ...) even then."""
        if server and self.matcher is None and not self.legacy:
            return ""  # the default: one series whatever the URL
        if path in STATIC_PATHS:
            return path
        if self.matcher is not None:
            matched = self.matcher.match(path)
            if matched is not None and (not self.legacy or matched != path):
                return matched
            normalized = legacy_path(path)
            if normalized != path:
                matched = self.matcher.match(normalized)
                if matched is not None and matched != "/":
                    return matched
        return legacy_path(path) if self.legacy else ""


class Relabel:
    """``spec.metric.rules``: per metric (Dapr's name, ``dapr_`` optional) and label, the regex
    rewrites in order, as daprd's ``CreateRulesMap``/``NormalizeTagValue``."""

    def __init__(self, rules: Sequence[MetricRule]) -> None:
        self._rules: dict[str, dict[str, list[tuple[re.Pattern[str], str]]]] = {}
        for rule in rules:
            labels = self._rules.setdefault(_metric_key(rule.name), {})
            for label, pairs in rule.labels:
                labels[label] = [(re.compile(pattern), _go_replacement(repl)) for repl, pattern in pairs]

    def __bool__(self) -> bool:
        return bool(self._rules)

    def for_metric(
        self, name: str, label_names: Sequence[str]
    ) -> list[tuple[int, list[tuple[re.Pattern[str], str]]]]:
        """The rewrites of the metric ``name``, by label position; empty when none apply."""
        labels = self._rules.get(_metric_key(name), {})
        return [(i, labels[label]) for i, label in enumerate(label_names) if label in labels]


def apply_rewrites(values: tuple[str, ...], rewrites: Rewrites) -> tuple[str, ...]:
    out = list(values)
    for index, pairs in rewrites:
        value = out[index]
        for regex, replacement in pairs:
            value = _go_replace_all(regex, replacement, value)
        out[index] = value
    return tuple(out)


def _go_replace_all(regex: re.Pattern[str], replacement: str, text: str) -> str:
    # Go's ReplaceAllString: unlike Python's sub, an empty match right after a match is not one
    # more match ("store" with ".*" → "X", where re.sub gives "XX").
    parts: list[str] = []
    position, last_end = 0, -1
    for match in regex.finditer(text):
        start, end = match.span()
        if start == end == last_end:
            continue
        parts += (text[position:start], match.expand(replacement))
        position = last_end = end
    parts.append(text[position:])
    return "".join(parts)


def _metric_key(name: str) -> str:
    return name[len("dapr_") :] if name.startswith("dapr_") else name


_GO_GROUP = re.compile(r"\$(\{(\w+)\}|(\d+))")


def _go_replacement(text: str) -> str:
    # Go's ReplaceAllString expands $1 and ${name}; Python's sub wants \g<1> and takes \ literally.
    escaped = text.replace("\\", "\\\\")
    return _GO_GROUP.sub(lambda m: f"\\g<{m.group(2) or m.group(3)}>", escaped)
