"""The lock API both transports call: validation in Dapr's order, key prefixes, store errors.

Lock keys get a prefix like state keys (dapr/dapr pkg/components/lock/lock_config.go): the
component's ``keyPrefix`` is ``appid`` (default), ``name`` (the store name), ``none``, or any other
text used as is; prefix and resource id are joined with ``||``, which a resource id may not contain.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from pydapr.lock import errors as E
from pydapr.lock.contract import LockStore, UnlockStatus

log = logging.getLogger("pydapr.lock")

SEPARATOR = "||"


@dataclass(frozen=True, slots=True)
class LockEntry:
    store: LockStore
    key_prefix: str  # "" for none


def key_prefix(strategy: str | None, store_name: str, app_id: str) -> str:
    value = (strategy or "appid").strip()
    lowered = value.lower()
    if lowered == "appid":
        return app_id
    if lowered == "name":
        return store_name
    if lowered == "none":
        return ""
    return value


class LockAPI:
    def __init__(self, stores: Mapping[str, LockEntry]) -> None:
        self._stores = stores

    def _validate(self, store_name: str, resource_id: str, owner: str) -> LockEntry:
        if not self._stores:
            raise E.NOT_CONFIGURED(store_name)
        if not resource_id:
            raise E.RESOURCE_ID_EMPTY()
        if not owner:
            raise E.OWNER_EMPTY()
        entry = self._stores.get(store_name)
        if entry is None:
            raise E.NOT_FOUND(store_name)
        return entry

    @staticmethod
    def _key(entry: LockEntry, resource_id: str) -> str | None:
        if SEPARATOR in resource_id:
            return None
        return f"{entry.key_prefix}{SEPARATOR}{resource_id}" if entry.key_prefix else resource_id

    async def try_lock(self, store_name: str, resource_id: str, owner: str, expiry_seconds: int) -> bool:
        if expiry_seconds <= 0:
            raise E.EXPIRY_NOT_POSITIVE()
        entry = self._validate(store_name, resource_id, owner)
        key = self._key(entry, resource_id)
        if key is None:
            raise E.TRY_LOCK(metadata={"error": f"input key/keyPrefix '{resource_id}' can't contain '||'"})
        try:
            return await entry.store.try_lock(key, owner, expiry_seconds)
        except Exception as exc:
            log.debug("try lock on %s failed: %s", store_name, exc)
            raise E.TRY_LOCK(metadata={"error": str(exc)}) from exc

    async def unlock(self, store_name: str, resource_id: str, owner: str) -> UnlockStatus:
        entry = self._validate(store_name, resource_id, owner)
        key = self._key(entry, resource_id)
        if key is None:
            raise E.UNLOCK(metadata={"error": f"input key/keyPrefix '{resource_id}' can't contain '||'"})
        try:
            return await entry.store.unlock(key, owner)
        except Exception as exc:
            log.debug("unlock on %s failed: %s", store_name, exc)
            raise E.UNLOCK(metadata={"error": str(exc)}) from exc
