"""Subscriptions as the sidecar runs them: read from the app or from YAML, with compiled routing rules.

Routing follows Dapr: rules are CEL expressions over ``event`` (the CloudEvent), tried in order;
the first that is true gives the path, else the default route; no path means the event is dropped.
A gRPC app that lists neither rules nor a default gets every event with an empty path, as in Dapr
(the SDK then finds the handler by pubsub and topic).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from typing import Any

import msgspec

log = logging.getLogger("pydapr.pubsub")


class RuleError(ValueError):
    """A routing rule's CEL expression does not compile."""


@dataclass(frozen=True, slots=True)
class Rule:
    match: str
    path: str
    program: Any = field(compare=False, repr=False, default=None)


@functools.cache
def _cel() -> Any:
    """The CEL environment, made for the first rule: importing cel-python (lark, pendulum, re2) and
    building its parser costs ~0.2 s of CPU and ~10 MB, which a sidecar whose subscriptions have no
    rules (the common case) must not pay at startup."""
    import celpy

    return celpy.Environment()


def compile_rule(match: str, path: str) -> Rule:
    if not match:
        return Rule(match, path)
    env = _cel()
    try:
        program = env.program(env.compile(match))
    except Exception as exc:
        raise RuleError(f"invalid routing rule {match!r}: {exc}") from None
    return Rule(match, path, program)


class BulkConfig(msgspec.Struct, frozen=True):
    enabled: bool = False
    max_messages_count: int = 100
    max_await_duration_ms: int = 1000


class TopicSubscription(msgspec.Struct, frozen=True):
    pubsub: str
    topic: str
    rules: tuple[Rule, ...] = ()
    default_path: str | None = None
    dead_letter_topic: str = ""
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    bulk: BulkConfig = msgspec.field(default_factory=BulkConfig)
    kind: str = "PROGRAMMATIC"  # or DECLARATIVE / STREAMING, as Dapr's metadata API names them

    def route(self, event: dict[str, Any]) -> str | None:
        """The app path for ``event``; None when no rule matches and there is no default."""
        if self.rules:
            # Rules were compiled, so cel-python is already imported: these imports are lookups.
            from celpy.adapter import json_to_cel
            from celpy.celtypes import BoolType

            activation = {"event": json_to_cel(event)}
            for rule in self.rules:
                if rule.program is None:
                    return rule.path
                try:
                    result = rule.program.evaluate(activation)
                except Exception as exc:  # a rule that cannot be evaluated on this event is false
                    log.debug("rule %r on %s: %s", rule.match, self.topic, exc)
                    continue
                if isinstance(result, (bool, BoolType)) and bool(result):
                    return rule.path
        return self.default_path

    def describe(self) -> dict[str, Any]:
        """The entry in GET /v1.0/metadata ``subscriptions``."""
        rules = [{"match": r.match, "path": r.path} for r in self.rules]
        if self.default_path is not None:
            rules.append({"match": "", "path": self.default_path})
        return {
            "pubsubname": self.pubsub,
            "topic": self.topic,
            "deadLetterTopic": self.dead_letter_topic,
            "metadata": self.metadata,
            "rules": rules,
            "type": self.kind,
        }


def _path(value: Any) -> str:
    return str(value or "").lstrip("/") if value else ""


def _default(value: Any) -> str | None:
    """A default route: the path without its leading slash, None when there is none."""
    return _path(value) or None


def from_app_json(items: Any) -> list[TopicSubscription]:
    """Parse the app's ``GET /dapr/subscribe`` answer; entries that make no sense are logged and skipped."""
    out: list[TopicSubscription] = []
    if not isinstance(items, list):
        log.warning("GET /dapr/subscribe did not return a JSON array; no programmatic subscriptions")
        return out
    for item in items:
        if not isinstance(item, dict):
            continue
        pubsub, topic = str(item.get("pubsubname") or ""), str(item.get("topic") or "")
        if not pubsub or not topic:
            log.warning("subscription without pubsubname or topic skipped: %s", item)
            continue
        routes = item.get("routes") or {}
        rules: list[Rule] = []
        default = _default(item.get("route"))
        if isinstance(routes, dict):
            try:
                rules = [
                    compile_rule(str(r.get("match") or ""), _path(r.get("path")))
                    for r in routes.get("rules") or []
                ]
            except RuleError as exc:
                log.error("subscription to %s/%s skipped: %s", pubsub, topic, exc)
                continue
            default = _default(routes.get("default")) or default
        if not rules and default is None:
            log.warning("subscription to %s/%s has no route; skipped", pubsub, topic)
            continue
        bulk = item.get("bulkSubscribe") or {}
        out.append(
            TopicSubscription(
                pubsub,
                topic,
                tuple(rules),
                default,
                str(item.get("deadLetterTopic") or ""),
                {str(k): str(v) for k, v in (item.get("metadata") or {}).items()},
                BulkConfig(
                    bool(bulk.get("enabled")),
                    int(bulk.get("maxMessagesCount") or 100),
                    int(bulk.get("maxAwaitDurationMs") or 1000),
                ),
            )
        )
    return out


def from_app_grpc(resp: Any) -> list[TopicSubscription]:
    """Parse ``ListTopicSubscriptionsResponse``."""
    out: list[TopicSubscription] = []
    for s in resp.subscriptions:
        try:
            # Paths as the app wrote them: the gRPC SDK matches them back to handlers verbatim.
            rules = tuple(compile_rule(r.match, r.path) for r in s.routes.rules)
        except RuleError as exc:
            log.error("subscription to %s/%s skipped: %s", s.pubsub_name, s.topic, exc)
            continue
        default: str | None = s.routes.default or None
        if not rules and default is None:
            default = ""
        bulk = s.bulk_subscribe
        out.append(
            TopicSubscription(
                s.pubsub_name,
                s.topic,
                rules,
                default,
                s.dead_letter_topic,
                dict(s.metadata),
                BulkConfig(bulk.enabled, bulk.max_messages_count or 100, bulk.max_await_duration_ms or 1000),
            )
        )
    return out


def from_resource(sub: Any) -> TopicSubscription:
    """A ``Subscription`` resource (v1alpha1 ``route`` or v2alpha1 ``routes``)."""
    rules = tuple(compile_rule(r.match, _path(r.path)) for r in sub.rules)
    bulk = sub.bulk_subscribe
    return TopicSubscription(
        sub.pubsub_name,
        sub.topic,
        rules,
        _default(sub.default_route or sub.route),
        sub.dead_letter_topic or "",
        dict(sub.metadata),
        BulkConfig(bulk.enabled, bulk.max_messages_count, bulk.max_await_duration_ms)
        if bulk
        else BulkConfig(),
        "DECLARATIVE",
    )
