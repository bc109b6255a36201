"""Topic scoping from component metadata: who may publish or subscribe to which topics.

Dapr's rules (``allowedTopics``, ``protectedTopics``, ``publishingScopes``, ``subscriptionScopes``):
an app named in a scope list is limited to its topics; ``allowedTopics`` limits everyone;
``protectedTopics`` may only be used by apps that list them in their scope.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydapr.components.base import ComponentMetadata


def _topics(value: str | None) -> set[str]:
    return {t.strip() for t in (value or "").split(",") if t.strip()}


def _scopes(value: str | None) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for part in (value or "").split(";"):
        app, sep, topics = part.partition("=")
        if sep and app.strip():
            out[app.strip()] = _topics(topics)
    return out


@dataclass(frozen=True, slots=True)
class TopicScopes:
    allowed: frozenset[str]
    protected: frozenset[str]
    publishing: dict[str, set[str]]
    subscribing: dict[str, set[str]]

    @classmethod
    def from_metadata(cls, meta: ComponentMetadata) -> TopicScopes:
        return cls(
            frozenset(_topics(meta.get("allowedTopics"))),
            frozenset(_topics(meta.get("protectedTopics"))),
            _scopes(meta.get("publishingScopes")),
            _scopes(meta.get("subscriptionScopes")),
        )

    def _allowed(self, app_id: str, topic: str, scopes: dict[str, set[str]]) -> bool:
        if self.allowed and topic not in self.allowed and topic not in self.protected:
            return False
        if app_id in scopes:
            return topic in scopes[app_id]
        return topic not in self.protected

    def may_publish(self, app_id: str, topic: str) -> bool:
        return self._allowed(app_id, topic, self.publishing)

    def may_subscribe(self, app_id: str, topic: str) -> bool:
        return self._allowed(app_id, topic, self.subscribing)
