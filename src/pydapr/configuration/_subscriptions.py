"""The subscriptions one configuration store serves, and their dispatch from the store's one listener.

The listener calls ``dispatch`` for each change in the order the backend reports changes, and each
handler is awaited before the next change is dispatched, so every subscriber sees a key's changes in
order. A failing handler is logged and does not stop the others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydapr.configuration.contract import (
    ConfigurationItem,
    SubscriptionNotFound,
    UpdateHandler,
    new_subscription_id,
)

log = logging.getLogger("pydapr.configuration")


@dataclass(slots=True)
class _Subscription:
    keys: frozenset[str]  # empty: every key
    handler: UpdateHandler


class Subscriptions:
    def __init__(self) -> None:
        self._subs: dict[str, _Subscription] = {}

    def __bool__(self) -> bool:
        return bool(self._subs)

    def add(self, keys: list[str], handler: UpdateHandler) -> str:
        sub_id = new_subscription_id()
        self._subs[sub_id] = _Subscription(frozenset(keys), handler)
        return sub_id

    def remove(self, sub_id: str) -> None:
        if self._subs.pop(sub_id, None) is None:
            raise SubscriptionNotFound(sub_id)

    def clear(self) -> None:
        self._subs.clear()

    def wants(self, key: str) -> bool:
        return any(not s.keys or key in s.keys for s in self._subs.values())

    async def dispatch(self, items: dict[str, ConfigurationItem]) -> None:
        for sub_id, sub in list(self._subs.items()):
            chosen = items if not sub.keys else {k: v for k, v in items.items() if k in sub.keys}
            if not chosen or sub_id not in self._subs:
                continue
            try:
                await sub.handler(sub_id, chosen)
            except Exception:
                log.exception("configuration subscription %s: handler failed", sub_id)
