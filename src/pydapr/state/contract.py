"""What a state store is: the request and response values, the features, the errors a store raises.

A store receives keys already prefixed and validated by ``StateAPI`` and values as bytes. Optional
capabilities are declared through ``features()`` and implemented as the matching methods; the API
checks the features, never the store's type.

Errors a store raises (anything else is a backend failure, reported as the operation's 500)::

    StateStoreError
    ├── ETagMismatch   the ETag given is stale, or first-write found the key already there (409)
    ├── ETagInvalid    the ETag given cannot be one this store produces (400)
    └── QueryError     the query cannot be run on this store (400)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec

from pydapr.components.base import Component

# Feature names as Dapr reports them (components-contrib state/feature.go).
FEATURE_ETAG = "ETAG"
FEATURE_TRANSACTIONAL = "TRANSACTIONAL"
FEATURE_TTL = "TTL"
FEATURE_QUERY = "QUERY_API"
# Listing keys by prefix (Dapr's KEYS_LIKE feature; the API over it is a pydapr extension).
FEATURE_KEYS_LIKE = "KEYS_LIKE"
FEATURE_ACTOR = "ACTOR"  # reported in metadata for the store that has actorStateStore: "true"


class Concurrency(StrEnum):
    FIRST_WRITE = "first-write"
    LAST_WRITE = "last-write"


class Consistency(StrEnum):
    EVENTUAL = "eventual"
    STRONG = "strong"


class GetRequest(msgspec.Struct, frozen=True):
    key: str
    consistency: Consistency = Consistency.EVENTUAL
    metadata: Mapping[str, str] = msgspec.field(default_factory=dict)


class SetRequest(msgspec.Struct, frozen=True):
    """Save ``value`` under ``key``. ``ttl`` is seconds; None or <= 0 means the value never expires."""

    key: str
    value: bytes
    etag: str | None = None
    concurrency: Concurrency = Concurrency.LAST_WRITE
    consistency: Consistency = Consistency.EVENTUAL
    ttl: int | None = None
    metadata: Mapping[str, str] = msgspec.field(default_factory=dict)

    @property
    def first_write(self) -> bool:
        return self.concurrency is Concurrency.FIRST_WRITE


class DeleteRequest(msgspec.Struct, frozen=True):
    key: str
    etag: str | None = None
    concurrency: Concurrency = Concurrency.LAST_WRITE
    consistency: Consistency = Consistency.EVENTUAL
    metadata: Mapping[str, str] = msgspec.field(default_factory=dict)


Operation = SetRequest | DeleteRequest


class StateItem(msgspec.Struct, frozen=True):
    """A stored value; ``expires_at`` (UTC) is set when the value has a TTL."""

    data: bytes
    etag: str
    expires_at: datetime | None = None

    def response_metadata(self) -> dict[str, str]:
        """What Dapr returns beside the value: ``ttlExpireTime`` in RFC 3339 when the value expires."""
        if self.expires_at is None:
            return {}
        return {"ttlExpireTime": self.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")}


class BulkItem(msgspec.Struct, frozen=True):
    key: str
    item: StateItem | None = None
    error: str = ""


# --- query (components-contrib state/query: EQ/NEQ/GT/GTE/LT/LTE/IN/AND/OR, sort, page) ----------


class Compare(msgspec.Struct, frozen=True):
    """``path`` is a dot path into the JSON value; ``op`` is one of EQ NEQ GT GTE LT LTE IN."""

    op: str
    path: tuple[str, ...]
    value: Any


class Combine(msgspec.Struct, frozen=True):
    op: str  # AND | OR
    filters: tuple[Filter, ...]


Filter = Compare | Combine


class Sort(msgspec.Struct, frozen=True):
    path: tuple[str, ...]
    descending: bool = False


class Query(msgspec.Struct, frozen=True):
    """A parsed query; ``key_prefix`` scopes it to the calling app's keys (empty: the whole store)."""

    filter: Filter | None = None
    sort: tuple[Sort, ...] = ()
    limit: int = 0
    offset: int = 0
    key_prefix: str = ""


class QueryResult(msgspec.Struct, frozen=True):
    items: list[tuple[str, StateItem]]
    token: str = ""


class KeyPage(msgspec.Struct, frozen=True):
    keys: list[str]
    token: str = ""


# --- errors ---------------------------------------------------------------------------------------


class StateStoreError(Exception):
    """Base of the errors a store raises on purpose."""


class ETagMismatch(StateStoreError):
    def __init__(self, key: str) -> None:
        super().__init__(f"possible etag mismatch. error from state store: no current value of {key} matches")
        self.key = key


class ETagInvalid(StateStoreError):
    def __init__(self, etag: str) -> None:
        super().__init__(f"invalid etag value: {etag!r}")
        self.etag = etag


class QueryError(StateStoreError):
    """The query is valid JSON but this store cannot run it (unknown operator, bad token...)."""


# --- the component --------------------------------------------------------------------------------


class StateStore(Component):
    """Base of every state store. Required: get, set, delete. Optional, by feature:

    - TRANSACTIONAL: ``transact`` applies all operations or none.
    - QUERY_API: ``query``.
    - KEYS_LIKE: ``list_keys``.
    - ETAG, TTL: honoured by ``set``/``delete``/``transact``.
    """

    async def get(self, req: GetRequest) -> StateItem | None:
        raise NotImplementedError

    async def set(self, req: SetRequest) -> None:
        raise NotImplementedError

    async def delete(self, req: DeleteRequest) -> None:
        raise NotImplementedError

    async def transact(self, ops: Sequence[Operation]) -> None:
        raise NotImplementedError

    async def query(self, query: Query) -> QueryResult:
        raise NotImplementedError

    async def list_keys(self, prefix: str, limit: int, token: str) -> KeyPage:
        raise NotImplementedError
