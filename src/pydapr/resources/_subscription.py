"""Build Subscription values from v1alpha1 (``route``) and v2alpha1 (``routes``) documents."""

from __future__ import annotations

from typing import Any

from ._fields import Doc, join
from ._values import describe, go_string
from .models import BulkSubscribeSpec, RouteRule, Subscription

__all__ = ["parse_subscription"]


def parse_subscription(
    doc: Doc, obj: dict[str, Any], namespace: str | None, api_version: str
) -> Subscription:
    spec = doc.mapping(obj, "spec", "")
    route: str | None = None
    rules: tuple[RouteRule, ...] = ()
    default: str | None = None
    if api_version == "dapr.io/v1alpha1":
        route = doc.required(spec, "route", "spec")
    else:
        routes = doc.mapping(spec, "routes", "spec")
        rules = tuple(
            RouteRule(match=doc.string(rule, "match", where) or "", path=doc.required(rule, "path", where))
            for where, rule in doc.items(routes, "rules", "spec.routes")
        )
        default = doc.string(routes, "default", "spec.routes") or None
        if not rules and default is None:
            if doc.get(spec, "route") is not None:
                raise doc.error("spec.routes", "field required (spec.route is v1alpha1; use routes.default)")
            raise doc.error("spec.routes", "needs rules or a default route")
    return Subscription(
        name=doc.name or "",
        namespace=namespace,
        scopes=doc.strings(obj, "scopes", ""),
        source=doc.file,
        pubsub_name=doc.required(spec, "pubsubname", "spec"),
        topic=doc.required(spec, "topic", "spec"),
        route=route,
        rules=rules,
        default_route=default,
        dead_letter_topic=doc.string(spec, "deadLetterTopic", "spec") or None,
        metadata=_metadata(doc, spec),
        bulk_subscribe=_bulk(doc, spec),
        api_version=api_version,
    )


def _metadata(doc: Doc, spec: dict[str, Any]) -> dict[str, str]:
    # A map of strings in Dapr: unquoted scalars (rawPayload: true) are taken as their text.
    result: dict[str, str] = {}
    for key, value in doc.mapping(spec, "metadata", "spec").items():
        if value is None:
            continue
        text = go_string(value)
        if text is None:
            raise doc.error(join("spec.metadata", str(key)), f"expected a string, got {describe(value)}")
        result[str(go_string(key) or key)] = text
    return result


def _bulk(doc: Doc, spec: dict[str, Any]) -> BulkSubscribeSpec | None:
    if doc.get(spec, "bulkSubscribe") is None:
        return None
    where = "spec.bulkSubscribe"
    bulk = doc.mapping(spec, "bulkSubscribe", "spec")
    count = doc.integer(bulk, "maxMessagesCount", where, 0)
    wait = doc.integer(bulk, "maxAwaitDurationMs", where, 0)
    for key, value in (("maxMessagesCount", count), ("maxAwaitDurationMs", wait)):
        if value < 0:
            raise doc.error(join(where, key), "must not be negative")
    return BulkSubscribeSpec(
        enabled=doc.boolean(bulk, "enabled", where, False),
        max_messages_count=count or 100,
        max_await_duration_ms=wait or 1000,
    )
