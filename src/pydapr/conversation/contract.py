"""What a conversation component offers, and the base the LLM-backed components share.

``ConversationModel.converse`` takes a transport-free request and answers one. ``RemoteModel``
adds what Dapr's langchaingo-backed components have in common: the model name resolved as Dapr does
(environment variable, then metadata, then the default), the ``cacheTTL`` response cache, and an
HTTP client that connects only on first use, so a component loads with no model server reachable.
"""

from __future__ import annotations

import os

from pydapr.components.base import Component, ComponentConfigError, ComponentMetadata
from pydapr.conversation.cache import ResponseCache, request_key
from pydapr.conversation.model import ConverseRequest, ConverseResponse
from pydapr.resources.durations import parse_millis_or_duration


class ConversationModel(Component):
    """Base of all conversation components."""

    async def converse(self, request: ConverseRequest) -> ConverseResponse:
        raise NotImplementedError


def resolve_model(env_var: str, configured: str | None, default: str) -> str:
    """Dapr's order (components-contrib conversation/models.go): the environment wins over metadata."""
    return os.environ.get(env_var) or configured or default


class RemoteModel(ConversationModel):
    """A model behind an HTTP API. Subclasses implement ``complete``; caching happens here."""

    model: str = ""
    cache: ResponseCache | None = None

    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        ttl = metadata.get("cacheTTL") or metadata.get("responseCacheTTL")
        self.cache = None
        if ttl:
            try:
                seconds = parse_millis_or_duration(ttl)
            except ValueError as exc:
                raise ComponentConfigError(metadata.name, "cacheTTL", str(exc)) from None
            if seconds > 0:
                self.cache = ResponseCache(seconds)

    async def converse(self, request: ConverseRequest) -> ConverseResponse:
        if self.cache is None:
            return await self.complete(request)
        key = request_key(request)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        response = await self.complete(request)
        self.cache.put(key, response)
        return response

    async def complete(self, request: ConverseRequest) -> ConverseResponse:
        raise NotImplementedError
