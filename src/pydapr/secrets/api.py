"""The secrets API both transports call: store lookup, secret scopes, and Dapr's errors.

Scopes come from the Configuration's ``secrets.scopes``: a key is readable when the store's scope
allows it (allow list first, then deny list, then ``defaultAccess``); a store without a scope allows
everything. Bulk reads silently leave out what the scope denies, as Dapr does.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pydapr.resources.models import SecretScope
from pydapr.secrets import errors as E
from pydapr.secrets.contract import SecretStore

log = logging.getLogger("pydapr.secrets")


class SecretsAPI:
    def __init__(self, stores: Mapping[str, SecretStore], scopes: Mapping[str, SecretScope]) -> None:
        self._stores = stores
        self._scopes = scopes

    def store(self, name: str) -> SecretStore:
        if not self._stores:
            raise E.STORES_NOT_CONFIGURED()
        store = self._stores.get(name)
        if store is None:
            raise E.STORE_NOT_FOUND(name)
        return store

    def allowed(self, store: str, key: str) -> bool:
        scope = self._scopes.get(store)
        return scope is None or scope.is_allowed(key)

    async def get(self, store_name: str, key: str, metadata: dict[str, str]) -> dict[str, str]:
        store = self.store(store_name)
        if not self.allowed(store_name, key):
            raise E.PERMISSION_DENIED(key, store_name)
        try:
            return await store.get_secret(key, metadata)
        except Exception as exc:
            # Store errors name the secret, never its value (stores are written to keep it that way).
            raise E.GET(key, store_name, exc) from exc

    async def bulk_get(self, store_name: str, metadata: dict[str, str]) -> dict[str, dict[str, str]]:
        store = self.store(store_name)
        try:
            data = await store.bulk_get_secret(metadata)
        except Exception as exc:
            raise E.BULK_GET(store_name, exc) from exc
        out = {}
        for key, values in data.items():
            if self.allowed(store_name, key):
                out[key] = values
            else:
                log.debug('access denied by policy to get "%s" from "%s"', key, store_name)
        return out
