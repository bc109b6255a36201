"""What a configuration store offers: read items, and subscribe to their changes.

A store calls a subscription's handler once per change batch, in the order the backend reports
changes, and never concurrently for one subscription; a deleted key is reported as an item with an
empty value and version and ``metadata["deleted"] == "true"``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from pydapr.components.base import Component


@dataclass(frozen=True, slots=True)
class ConfigurationItem:
    value: str
    version: str = ""
    metadata: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {"value": self.value, "version": self.version, "metadata": self.metadata}


DELETED = {"deleted": "true"}

UpdateHandler = Callable[[str, dict[str, ConfigurationItem]], Awaitable[None]]


class SubscriptionNotFound(LookupError):
    def __init__(self, sub_id: str) -> None:
        super().__init__(f"subscription {sub_id} does not exist")


def new_subscription_id() -> str:
    return str(uuid.uuid4())


class ConfigurationStore(Component):
    async def get(self, keys: list[str], metadata: dict[str, str]) -> dict[str, ConfigurationItem]:
        """The items for ``keys`` that exist (all items when ``keys`` is empty)."""
        raise NotImplementedError

    async def subscribe(self, keys: list[str], metadata: dict[str, str], handler: UpdateHandler) -> str:
        """Start reporting changes of ``keys`` (all keys when empty) made from now on; returns the id.

        ``handler(subscription_id, items)`` is awaited for each change batch.
        """
        raise NotImplementedError

    async def unsubscribe(self, subscription_id: str) -> None:
        """Stop a subscription; raises SubscriptionNotFound for an unknown id."""
        raise NotImplementedError
