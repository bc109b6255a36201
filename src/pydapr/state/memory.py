"""``state.in-memory``: a dict in the sidecar's process; lost on restart, shared by nothing else.

Every operation runs without awaiting, so each one (and each transaction) is atomic on the event loop.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pydapr.components.base import ComponentMetadata
from pydapr.state import codec, query
from pydapr.state.contract import (
    FEATURE_ETAG,
    FEATURE_KEYS_LIKE,
    FEATURE_QUERY,
    FEATURE_TRANSACTIONAL,
    FEATURE_TTL,
    DeleteRequest,
    ETagMismatch,
    GetRequest,
    KeyPage,
    Operation,
    Query,
    QueryResult,
    SetRequest,
    StateItem,
    StateStore,
)


@dataclass(slots=True)
class _Entry:
    data: bytes
    etag: str
    expires_at: datetime | None


class InMemoryStateStore(StateStore):
    def __init__(self) -> None:
        self._data: dict[str, _Entry] = {}
        self._versions = itertools.count(1)

    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)

    def features(self) -> frozenset[str]:
        return frozenset({FEATURE_ETAG, FEATURE_TRANSACTIONAL, FEATURE_TTL, FEATURE_QUERY, FEATURE_KEYS_LIKE})

    def _live(self, key: str) -> _Entry | None:
        entry = self._data.get(key)
        if entry is not None and entry.expires_at is not None and entry.expires_at <= codec.utcnow():
            del self._data[key]
            return None
        return entry

    async def get(self, req: GetRequest) -> StateItem | None:
        entry = self._live(req.key)
        return None if entry is None else StateItem(entry.data, entry.etag, entry.expires_at)

    def _check_set(self, req: SetRequest) -> None:
        entry = self._live(req.key)
        if req.etag:
            # Compared as text, as contrib's in-memory store: any other ETag is a mismatch (409).
            if entry is None or entry.etag != req.etag:
                raise ETagMismatch(req.key)
        elif req.first_write and entry is not None:
            raise ETagMismatch(req.key)

    def _check_delete(self, req: DeleteRequest) -> None:
        if req.etag:
            entry = self._live(req.key)
            if entry is None or entry.etag != req.etag:
                raise ETagMismatch(req.key)

    def _apply(self, op: Operation) -> None:
        if isinstance(op, SetRequest):
            self._data[op.key] = _Entry(op.value, str(next(self._versions)), codec.expiry(op.ttl))
        else:
            self._data.pop(op.key, None)

    async def set(self, req: SetRequest) -> None:
        self._check_set(req)
        self._apply(req)

    async def delete(self, req: DeleteRequest) -> None:
        self._check_delete(req)
        self._apply(req)

    async def transact(self, ops: Sequence[Operation]) -> None:
        # Check everything against the state as it will be when each op runs, then apply: a
        # later op may depend on an earlier one (set then set-with-first-write fails, as in SQL).
        snapshot = dict(self._data)
        try:
            for op in ops:
                if isinstance(op, SetRequest):
                    self._check_set(op)
                else:
                    self._check_delete(op)
                self._apply(op)
        except BaseException:
            self._data = snapshot
            raise

    async def query(self, q: Query) -> QueryResult:
        live = [(k, e) for k in list(self._data) if (e := self._live(k)) is not None]
        rows = [(k, StateItem(e.data, e.etag, e.expires_at)) for k, e in live]
        return query.evaluate(q, rows)

    async def list_keys(self, prefix: str, limit: int, token: str) -> KeyPage:
        keys = sorted(k for k in list(self._data) if k.startswith(prefix) and k > token and self._live(k))
        page = keys[:limit] if limit else keys
        more = limit and len(keys) > limit
        return KeyPage(page, page[-1] if more else "")
