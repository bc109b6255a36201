"""What bindings offer. An output binding runs operations (``create``, ``get``, ``exec`` ...) on
request; an input binding reads events from its source and hands each to a handler, which returns
only once the app has taken it (so a broker acknowledges only delivered events).

A component may be both (``bindings.rabbitmq``); the building block checks which base classes it has.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec

from pydapr.components.base import Component


class InvokeRequest(msgspec.Struct):
    operation: str
    data: bytes = b""
    metadata: dict[str, str] = msgspec.field(default_factory=dict)


class InvokeResponse(msgspec.Struct):
    data: bytes | None = None
    metadata: dict[str, str] = msgspec.field(default_factory=dict)


class ReadEvent(msgspec.Struct):
    data: bytes = b""
    metadata: dict[str, str] = msgspec.field(default_factory=dict)


# Returns the app's reply; raises when the event could not be delivered (the source may redeliver).
EventHandler = Callable[[ReadEvent], Awaitable[bytes]]


class BindingError(Exception):
    """An operation failed in a way the caller caused (bad metadata, unknown file): its message is
    shown to the user as is. ``status`` is the HTTP status of a remote answer that caused it, when
    there was one (``bindings.http``), so Resiliency can tell a server's 5xx from the caller's 4xx."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class OutputBinding(Component):
    def operations(self) -> tuple[str, ...]:
        raise NotImplementedError

    async def invoke(self, request: InvokeRequest) -> InvokeResponse:
        raise NotImplementedError


class InputBinding(Component):
    async def read(self, handler: EventHandler) -> None:
        """Start reading in the background and return; ``close`` stops reading."""
        raise NotImplementedError
