"""Actor state on the actor state store (the one state component with ``actorStateStore: "true"``).

Keys are Dapr's, ``<app id>||<actor type>||<actor id>||<key>``, with the partition key
``<app id>||<actor type>||<actor id>`` in the request metadata, so state written by daprd is read
here and the other way round (dapr/dapr pkg/actors/state). A transaction is checked whole before
the store sees it and goes through the store's transactional API: all of it is stored, or none.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from pydapr.state.contract import (
    FEATURE_ETAG,
    FEATURE_TRANSACTIONAL,
    DeleteRequest,
    GetRequest,
    SetRequest,
    StateStore,
)

from . import errors as E
from .contract import ActorKey, StateOperation

log = logging.getLogger("pydapr.actors")

SEPARATOR = "||"
TTL_KEY = "ttlInSeconds"
NOT_CONFIGURED = (
    "actors: state store does not exist or incorrectly configured. Have you set the property "
    """'{"name": "actorStateStore", "value": "true"}' in your state store component file?"""
)


class ActorState:
    """``is_active(key)``: the actor is active on this sidecar (a transaction needs it).
    ``ttl_enabled``: the ``ActorStateTTL`` feature, without which daprd refuses ``ttlInSeconds``."""

    def __init__(
        self,
        *,
        app_id: str,
        store: StateStore | None,
        store_name: str = "",
        is_active: Callable[[ActorKey], bool],
        ttl_enabled: bool = False,
    ) -> None:
        self.app_id = app_id
        self.store = store
        self.store_name = store_name
        self.is_active = is_active
        self.ttl_enabled = ttl_enabled
        self.problem = ""
        self.use_store(store, store_name)

    def use_store(self, store: StateStore | None, name: str) -> None:
        """The actor state store; daprd needs ETags and transactions of it."""
        self.store = store
        self.store_name = name
        self.problem = ""
        if store is not None:
            features = store.features()
            if FEATURE_ETAG not in features or FEATURE_TRANSACTIONAL not in features:
                self.problem = NOT_CONFIGURED

    def base_key(self, key: ActorKey) -> str:
        return f"{self.app_id}{SEPARATOR}{key.actor_type}{SEPARATOR}{key.actor_id}"

    def _store(self) -> StateStore:
        if self.store is None:
            raise E.RUNTIME_NOT_FOUND()
        return self.store

    async def get(self, key: ActorKey, name: str) -> tuple[bytes, Mapping[str, str]] | None:
        store = self._store()
        if self.problem:
            raise E.STATE_GET(self.problem)
        base = self.base_key(key)
        req = GetRequest(f"{base}{SEPARATOR}{name}", metadata={"partitionKey": base})
        try:
            item = await store.get(req)
        except Exception as exc:
            raise E.STATE_GET(exc) from exc
        if item is None or not item.data:
            return None
        return item.data, item.response_metadata()

    async def transaction(self, key: ActorKey, operations: Sequence[StateOperation]) -> None:
        store = self._store()
        if not self.is_active(key):
            raise E.INSTANCE_MISSING()
        if self.problem:
            raise E.STATE_TRANSACTION(self.problem)
        base = self.base_key(key)
        partition = {"partitionKey": base}
        requests: list[SetRequest | DeleteRequest] = []
        for op in operations:
            try:
                requests.append(self._request(base, partition, op))
            except ValueError as exc:
                raise E.STATE_TRANSACTION(exc) from None
        if not requests:
            return
        try:
            await store.transact(requests)
        except Exception as exc:
            raise E.STATE_TRANSACTION(exc) from exc

    def _request(
        self, base: str, partition: Mapping[str, str], op: StateOperation
    ) -> SetRequest | DeleteRequest:
        if not op.operation:
            raise ValueError("operation is empty")
        if not op.key:
            raise ValueError("missing key")
        stored = f"{base}{SEPARATOR}{op.key}"
        etag = op.etag or None
        if op.operation == "upsert":
            metadata = {**op.metadata, **partition}
            ttl = None
            if TTL_KEY in metadata:
                if not self.ttl_enabled:
                    raise ValueError(
                        'ttlInSeconds is not supported without the "ActorStateTTL" feature enabled'
                    )
                try:
                    ttl = int(metadata[TTL_KEY])
                except ValueError:
                    raise ValueError(
                        f"incorrect value for metadata {TTL_KEY!r}: {metadata[TTL_KEY]!r}"
                    ) from None
            value = op.value if op.value is not None else b"null"
            return SetRequest(stored, value, etag=etag, ttl=ttl, metadata=metadata)
        if op.operation == "delete":
            return DeleteRequest(stored, etag=etag, metadata=dict(partition))
        raise ValueError(f"operation type {op.operation} not supported")
