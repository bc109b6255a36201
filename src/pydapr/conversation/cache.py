"""The response cache a model component keeps when its ``cacheTTL`` metadata is set.

As in Dapr (langchaingo's in-memory cache around the model), an identical request (same messages,
tools and options) within the TTL is answered with the stored response without calling the model.
The key is a digest of the whole request; entries beyond ``max_entries`` evict the oldest.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from pydapr.conversation.model import ConverseRequest, ConverseResponse


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            "@": type(value).__name__,
            **{f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)},
        }
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def request_key(request: ConverseRequest) -> str:
    """A digest that is equal exactly when two requests would ask the model the same thing."""
    encoded = msgspec.json.encode(_plain(request), order="sorted")
    return hashlib.sha256(encoded).hexdigest()


class ResponseCache:
    def __init__(
        self, ttl_seconds: float, max_entries: int = 1024, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, ConverseResponse]] = OrderedDict()

    def get(self, key: str) -> ConverseResponse | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, response = entry
        if self._clock() >= expires:
            del self._entries[key]
            return None
        return response

    def put(self, key: str, response: ConverseResponse) -> None:
        self._entries.pop(key, None)
        self._entries[key] = (self._clock() + self.ttl, response)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
