"""The state API both transports call: store lookup, validation, key prefixes, options, errors.

Transports turn their wire format into the plain values below (``SaveItem``, ``DeleteItem``,
``TransactionOperation``) and call one method; everything a user can observe -- which error, which
status, what got stored -- is decided here, so HTTP and gRPC behave the same.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

import msgspec

from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.errors import DaprError, ErrorKind
from pydapr.state import codec
from pydapr.state import errors as E
from pydapr.state.contract import (
    FEATURE_ETAG,
    FEATURE_KEYS_LIKE,
    FEATURE_QUERY,
    FEATURE_TRANSACTIONAL,
    FEATURE_TTL,
    BulkItem,
    Concurrency,
    Consistency,
    DeleteRequest,
    ETagInvalid,
    ETagMismatch,
    GetRequest,
    KeyPage,
    Operation,
    QueryError,
    QueryResult,
    SetRequest,
    StateItem,
    StateStore,
)
from pydapr.state.outbox import Outbox
from pydapr.state.query import parse_query

log = logging.getLogger("pydapr.state")

SEPARATOR = "||"
TTL_KEY = "ttlInSeconds"
CONTENT_TYPE_KEY = "contentType"
MAX_LIST_LIMIT = 1000


class SaveItem(msgspec.Struct):
    key: str
    value: bytes
    etag: str | None = None
    concurrency: str = ""
    consistency: str = ""
    metadata: dict[str, str] = msgspec.field(default_factory=dict)


class DeleteItem(msgspec.Struct):
    key: str
    etag: str | None = None
    concurrency: str = ""
    consistency: str = ""
    metadata: dict[str, str] = msgspec.field(default_factory=dict)


class TransactionOperation(msgspec.Struct):
    operation: str  # "upsert" | "delete"
    item: SaveItem | DeleteItem


def key_prefix(strategy: str, store_name: str, app_id: str, namespace: str) -> str:
    """The prefix Dapr puts before every key (pkg/components/state/state_config.go)."""
    strategy_lower = strategy.lower()
    if strategy_lower == "none":
        return ""
    if strategy_lower == "name":
        return store_name + SEPARATOR
    if strategy_lower in ("appid", ""):
        return app_id + SEPARATOR if app_id else ""
    if strategy_lower == "namespace":
        if not app_id:
            return ""
        return f"{namespace}.{app_id}{SEPARATOR}" if namespace else app_id + SEPARATOR
    return strategy + SEPARATOR


class StoreEntry(msgspec.Struct):
    """A loaded store as the API sees it: the component, its key prefix and its declared features."""

    name: str
    store: StateStore
    prefix: str
    features: frozenset[str]
    actor_store: bool = False
    outbox: Outbox | None = None

    @classmethod
    def from_metadata(cls, store: StateStore, meta: ComponentMetadata) -> StoreEntry:
        strategy = meta.get("keyPrefix") or "appid"
        if SEPARATOR in strategy:
            raise ComponentConfigError(meta.name, "keyPrefix", f"{strategy!r} can't contain '||'")
        prefix = key_prefix(strategy, meta.name, meta.app_id, meta.namespace)
        features = store.features()
        outbox = Outbox.from_metadata(meta, prefix)
        if outbox is not None:
            for needed in (FEATURE_TRANSACTIONAL, FEATURE_KEYS_LIKE):
                if needed not in features:
                    raise ComponentConfigError(
                        meta.name, "outboxPublishPubsub", f"the outbox needs a store with {needed}"
                    )
        return cls(
            name=meta.name,
            store=store,
            prefix=prefix,
            features=features,
            actor_store=meta.get_bool("actorStateStore", False),
            outbox=outbox,
        )

    def key(self, key: str) -> str:
        if SEPARATOR in key:
            raise E.ILLEGAL_KEY(key)
        return self.prefix + key

    def original_key(self, stored: str) -> str:
        return stored[len(self.prefix) :] if stored.startswith(self.prefix) else stored


def _delete_bad_input(key: str, problem: str) -> DaprError:
    return E.DELETE_BAD_INPUT(key, problem)


def _concurrency(value: str) -> Concurrency:
    if value in ("", Concurrency.LAST_WRITE):
        return Concurrency.LAST_WRITE
    if value == Concurrency.FIRST_WRITE:
        return Concurrency.FIRST_WRITE
    raise ValueError(f"unrecognized concurrency model {value!r}: use first-write or last-write")


def _consistency(value: str) -> Consistency:
    if value in ("", Consistency.EVENTUAL):
        return Consistency.EVENTUAL
    if value == Consistency.STRONG:
        return Consistency.STRONG
    raise ValueError(f"unrecognized consistency model {value!r}: use eventual or strong")


def _check_etag_support(entry: StoreEntry, etag: str | None, concurrency: Concurrency) -> None:
    """A store without ETags can't check one, nor make first-write "create only": refuse rather than
    overwrite silently."""
    if FEATURE_ETAG in entry.features:
        return
    if etag:
        raise E.ETAG_NOT_SUPPORTED(entry.name, "the request names an ETag")
    if concurrency is Concurrency.FIRST_WRITE:
        raise E.ETAG_NOT_SUPPORTED(entry.name, "first-write concurrency needs them")


def _ttl(metadata: Mapping[str, str]) -> int | None:
    raw = metadata.get(TTL_KEY)
    if raw is None or raw == "":
        return None
    try:
        ttl = int(raw)
    except ValueError:
        raise ValueError(f"incorrect value for metadata '{TTL_KEY}': {raw!r} is not an integer") from None
    if ttl < -1 or ttl > 2**31 - 1:
        raise ValueError(f"incorrect value for metadata '{TTL_KEY}': must be -1 or greater")
    return ttl


class StateAPI:
    def __init__(self, stores: Mapping[str, StoreEntry]) -> None:
        self.stores = dict(stores)
        actor = [s.name for s in self.stores.values() if s.actor_store]
        if len(actor) > 1:
            raise ValueError(f"only one state store can be the actor state store, found: {', '.join(actor)}")
        self.actor_store_name = actor[0] if actor else None

    def store(self, name: str) -> StoreEntry:
        if not self.stores:
            raise E.STORE_NOT_CONFIGURED(name)
        entry = self.stores.get(name)
        if entry is None:
            raise E.STORE_NOT_FOUND(name)
        return entry

    # --- reads --------------------------------------------------------------------------------

    async def get(
        self, store_name: str, key: str, consistency: str = "", metadata: Mapping[str, str] | None = None
    ) -> StateItem | None:
        entry = self.store(store_name)
        if not key:
            raise E.KEY_REQUIRED()
        stored_key = entry.key(key)
        try:
            req = GetRequest(stored_key, _consistency(consistency), dict(metadata or {}))
        except ValueError as exc:
            raise E.GET_BAD_INPUT(key, store_name, exc) from None
        try:
            return await entry.store.get(req)
        except Exception as exc:
            log.debug("state get %s/%s failed", store_name, key, exc_info=True)
            raise E.GET(key, store_name, exc) from exc

    async def bulk_get(
        self,
        store_name: str,
        keys: Sequence[str],
        parallelism: int = 0,
        metadata: Mapping[str, str] | None = None,
    ) -> list[BulkItem]:
        """One result per key, in order; a key that fails carries its error instead of failing the call."""
        entry = self.store(store_name)
        stored = [entry.key(k) for k in keys]
        meta = dict(metadata or {})
        limit = asyncio.Semaphore(parallelism if parallelism > 0 else max(len(keys), 1))

        async def one(key: str, stored_key: str) -> BulkItem:
            async with limit:
                try:
                    return BulkItem(key, await entry.store.get(GetRequest(stored_key, metadata=meta)))
                except Exception as exc:
                    return BulkItem(key, error=str(exc))

        return list(await asyncio.gather(*(one(k, s) for k, s in zip(keys, stored, strict=True))))

    # --- writes -------------------------------------------------------------------------------

    def _set_request(
        self, entry: StoreEntry, item: SaveItem, bad_input: Callable[[str], DaprError]
    ) -> SetRequest:
        if not item.key:
            raise E.KEY_REQUIRED()
        stored_key = entry.key(item.key)
        try:
            ttl = _ttl(item.metadata)
            concurrency = _concurrency(item.concurrency)
            consistency = _consistency(item.consistency)
        except ValueError as exc:
            raise bad_input(str(exc)) from None
        if ttl is not None and FEATURE_TTL not in entry.features:
            raise E.TTL_NOT_SUPPORTED(entry.name)
        _check_etag_support(entry, item.etag, concurrency)
        if item.metadata.get(CONTENT_TYPE_KEY) == "application/json" and not codec.is_json(item.value):
            raise bad_input(f"the value of {item.key} is not valid JSON but contentType is application/json")
        return SetRequest(
            stored_key, item.value, item.etag or None, concurrency, consistency, ttl, dict(item.metadata)
        )

    def _delete_request(
        self, entry: StoreEntry, item: DeleteItem, bad_input: Callable[[str], DaprError]
    ) -> DeleteRequest:
        if not item.key:
            raise E.KEY_REQUIRED()
        stored_key = entry.key(item.key)
        try:
            concurrency = _concurrency(item.concurrency)
            consistency = _consistency(item.consistency)
        except ValueError as exc:
            raise bad_input(str(exc)) from None
        # first-write without an ETag changes nothing for a delete: only an ETag needs the feature.
        _check_etag_support(entry, item.etag, Concurrency.LAST_WRITE)
        return DeleteRequest(stored_key, item.etag or None, concurrency, consistency, dict(item.metadata))

    async def save(self, store_name: str, items: Sequence[SaveItem]) -> None:
        """Save every item, or (on a transactional store) none when one fails."""
        entry = self.store(store_name)
        reqs = [self._set_request(entry, item, lambda m: E.SAVE_BAD_INPUT(store_name, m)) for item in items]
        if not reqs:
            return
        kinds = (E.SAVE, E.SAVE_ETAG_MISMATCH, E.SAVE_ETAG_INVALID)
        await self._write(entry, reqs, kinds, (store_name,))

    async def delete(self, store_name: str, item: DeleteItem) -> None:
        entry = self.store(store_name)
        req = self._delete_request(entry, item, lambda m: E.DELETE_BAD_INPUT(item.key, m))
        kinds = (E.DELETE, E.DELETE_ETAG_MISMATCH, E.DELETE_ETAG_INVALID)
        await self._write(entry, [req], kinds, (item.key,))

    async def bulk_delete(self, store_name: str, items: Sequence[DeleteItem]) -> None:
        entry = self.store(store_name)
        reqs = [self._delete_request(entry, i, functools.partial(_delete_bad_input, i.key)) for i in items]
        if not reqs:
            return
        kinds = (E.BULK_DELETE, E.BULK_DELETE_ETAG_MISMATCH, E.BULK_DELETE_ETAG_INVALID)
        await self._write(entry, reqs, kinds, (store_name,))

    async def transact(
        self,
        store_name: str,
        operations: Sequence[TransactionOperation],
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        entry = self.store(store_name)
        if FEATURE_TRANSACTIONAL not in entry.features:
            raise E.TRANSACTIONS_NOT_SUPPORTED(store_name)
        ops: list[Operation] = []
        for op in operations:
            # Request-level metadata applies to every operation, over the operation's own (as Dapr).
            op.item.metadata = {**op.item.metadata, **(metadata or {})}
            if op.operation == "upsert" and isinstance(op.item, SaveItem):
                ops.append(self._set_request(entry, op.item, E.TRANSACTION_BAD_INPUT))
            elif op.operation == "delete":
                item = op.item
                as_delete = DeleteItem(item.key, item.etag, item.concurrency, item.consistency, item.metadata)
                ops.append(self._delete_request(entry, as_delete, E.TRANSACTION_BAD_INPUT))
            else:
                raise E.NOT_SUPPORTED_OPERATION(op.operation)
        if not ops:
            return
        pending = None
        if entry.outbox is not None:
            ops, pending = entry.outbox.prepare(ops, E.TRANSACTION_BAD_INPUT)
        try:
            await entry.store.transact(ops)
        except ETagMismatch as exc:
            raise E.TRANSACTION_ETAG_MISMATCH(exc) from exc
        except ETagInvalid as exc:
            raise E.TRANSACTION_ETAG_INVALID(exc) from exc
        except DaprError:
            raise
        except Exception as exc:
            log.debug("state transaction on %s failed", store_name, exc_info=True)
            raise E.TRANSACTION(exc) from exc
        if pending is not None and entry.outbox is not None:
            await entry.outbox.deliver(entry.store, pending)

    async def _write(
        self,
        entry: StoreEntry,
        reqs: list[SetRequest] | list[DeleteRequest],
        kinds: tuple[ErrorKind, ErrorKind, ErrorKind],
        first_args: tuple[str, ...],
    ) -> None:
        failed, mismatch, invalid = kinds
        try:
            if len(reqs) == 1:
                await self._one(entry.store, reqs[0])
            elif FEATURE_TRANSACTIONAL in entry.features:
                await entry.store.transact(reqs)
            else:
                await _gather_all([self._one(entry.store, r) for r in reqs])
        except ETagMismatch as exc:
            raise mismatch(*first_args, exc) from exc
        except ETagInvalid as exc:
            raise invalid(*first_args, exc) from exc
        except DaprError:
            raise
        except Exception as exc:
            log.debug("state write on %s failed", entry.name, exc_info=True)
            raise failed(*first_args, exc) from exc

    @staticmethod
    async def _one(store: StateStore, req: SetRequest | DeleteRequest) -> None:
        if isinstance(req, SetRequest):
            await store.set(req)
        else:
            await store.delete(req)

    # --- query and key listing ----------------------------------------------------------------

    async def query(
        self, store_name: str, body: bytes | str, metadata: Mapping[str, str] | None = None
    ) -> QueryResult:
        entry = self.store(store_name)
        if FEATURE_QUERY not in entry.features:
            raise E.QUERY_NOT_SUPPORTED()
        # daprd answers every query failure, a malformed query included, with 500/Internal
        # (pkg/api/universal/state_query.go, errors.StateStoreQueryFailed).
        try:
            query = parse_query(body, entry.prefix)
        except QueryError as exc:
            raise E.QUERY(store_name, exc) from None
        try:
            result = await entry.store.query(query)
        except QueryError as exc:
            raise E.QUERY(store_name, exc) from None
        except Exception as exc:
            log.debug("state query on %s failed", store_name, exc_info=True)
            raise E.QUERY(store_name, exc) from exc
        items = [(entry.original_key(k), item) for k, item in result.items]
        # Keys holding the separator are the sidecar's own (outbox records), never a user's.
        return QueryResult([(k, item) for k, item in items if SEPARATOR not in k], result.token)

    async def list_keys(
        self, store_name: str, prefix: str = "", limit: int = 100, token: str = ""
    ) -> KeyPage:
        """pydapr extension: this app's keys that start with ``prefix``, a page at a time."""
        entry = self.store(store_name)
        if FEATURE_KEYS_LIKE not in entry.features:
            raise E.LIST_KEYS_NOT_SUPPORTED(store_name)
        if SEPARATOR in prefix:
            raise E.ILLEGAL_KEY(prefix)
        if limit <= 0 or limit > MAX_LIST_LIMIT:
            raise E.LIST_KEYS_BAD_INPUT(store_name, f"limit must be between 1 and {MAX_LIST_LIMIT}")
        try:
            page = await entry.store.list_keys(entry.prefix + prefix, limit, token)
        except Exception as exc:
            log.debug("listing keys of %s failed", store_name, exc_info=True)
            raise E.LIST_KEYS(store_name, exc) from exc
        keys = [entry.original_key(k) for k in page.keys]
        return KeyPage([k for k in keys if SEPARATOR not in k], page.token)


async def _gather_all(calls: list[Awaitable[None]]) -> None:
    """Run all writes; raise an ETag error if every failure is one (as Dapr's bulk), else the first."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    if not failures:
        return
    others = [f for f in failures if not isinstance(f, ETagMismatch | ETagInvalid)]
    raise (others or failures)[0]
