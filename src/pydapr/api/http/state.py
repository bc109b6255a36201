"""Dapr's state HTTP routes (pkg/api/http/http.go) over ``StateAPI``, plus pydapr's key-listing route.

Only wire work here: decode the body and query string, call the API, encode the answer. Request
metadata comes from ``metadata.<name>`` query parameters and overrides the body's.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from pydapr.api.http.jsonbody import BodyDecoder
from pydapr.api.http.router import Router
from pydapr.http.messages import Headers, Request, Response
from pydapr.state import errors as E
from pydapr.state.api import DeleteItem, SaveItem, StateAPI, TransactionOperation
from pydapr.state.contract import StateItem

METADATA_PREFIX = "metadata."
# The pydapr extension lives outside Dapr's route names so it can never clash with a future Dapr API.
LIST_KEYS_ROUTE = "/v1.0-alpha1/pydapr/state/{storeName}/keys"


# Structs forbid unknown fields so that BodyDecoder's exact pass fails on any other key (a case
# variant, a field daprd does not know) and the Go-style pass takes over; see jsonbody.py.
class _Options(msgspec.Struct, forbid_unknown_fields=True):
    concurrency: str = ""
    consistency: str = ""


class _StateBody(msgspec.Struct, forbid_unknown_fields=True):
    key: str = ""
    value: msgspec.Raw = msgspec.Raw(b"null")
    etag: str | None = None
    metadata: dict[str, str] | None = None
    options: _Options | None = None
    # Known to daprd's state.SetRequest; the stores read the content type from metadata.
    contentType: str | None = None


class _BulkGetBody(msgspec.Struct, forbid_unknown_fields=True):
    keys: list[str] = []
    parallelism: int = 0
    metadata: dict[str, str] | None = None


class _TxOperation(msgspec.Struct, forbid_unknown_fields=True):
    operation: str = ""
    request: _StateBody = msgspec.field(default_factory=_StateBody)


class _TxBody(msgspec.Struct, forbid_unknown_fields=True):
    operations: list[_TxOperation] = []
    metadata: dict[str, str] | None = None


# A JSON null body is Go's nil slice: nothing to save.
_SAVE: BodyDecoder[list[_StateBody] | None] = BodyDecoder(list[_StateBody] | None)
_BULK_GET: BodyDecoder[_BulkGetBody | None] = BodyDecoder(_BulkGetBody | None)
_TX: BodyDecoder[_TxBody | None] = BodyDecoder(_TxBody | None)


def _query(req: Request) -> tuple[dict[str, str], dict[str, str]]:
    """(plain parameters, request metadata) from the query string; the first value of a name wins."""
    plain: dict[str, str] = {}
    meta: dict[str, str] = {}
    for name, value in parse_qsl(req.query, keep_blank_values=True):
        if name.startswith(METADATA_PREFIX):
            meta.setdefault(name[len(METADATA_PREFIX) :], value)
        else:
            plain.setdefault(name, value)
    return plain, meta


def _decode(decoder: BodyDecoder[Any], body: bytes) -> Any:
    try:
        return decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise E.MALFORMED_REQUEST(exc) from None


def _value(body: _StateBody, metadata: dict[str, str]) -> bytes:
    raw = bytes(body.value)
    if metadata.get("rawPayload", "").lower() == "true" and raw.startswith(b'"'):
        # rawPayload: the JSON string's text is the value, stored without JSON quoting.
        text: str = msgspec.json.decode(raw)
        return text.encode()
    return raw


def _save_item(body: _StateBody, url_meta: dict[str, str]) -> SaveItem:
    metadata = {**(body.metadata or {}), **url_meta}
    options = body.options or _Options()
    return SaveItem(
        body.key, _value(body, metadata), body.etag, options.concurrency, options.consistency, metadata
    )


def _data_json(data: bytes) -> Any:
    """A stored value inside a JSON answer: JSON as is; other bytes as a string (UTF-8, else base64)."""
    try:
        msgspec.json.decode(data)
        return msgspec.Raw(data)
    except msgspec.DecodeError:
        pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(data).decode()


def _item_json(key: str, item: StateItem | None, error: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"key": key}
    if item is not None:
        out["data"] = _data_json(item.data)
        out["etag"] = item.etag
        if meta := item.response_metadata():
            out["metadata"] = meta
    if error:
        out["error"] = error
    return out


def register(router: Router, api: StateAPI) -> None:
    async def get_state(req: Request, params: dict[str, str]) -> Response:
        plain, meta = _query(req)
        item = await api.get(params["storeName"], params["key"], plain.get("consistency", ""), meta)
        if item is None:
            return Response.empty(204)
        headers = [("content-type", "application/json"), ("etag", item.etag)]
        headers += [(METADATA_PREFIX + k.lower(), v) for k, v in item.response_metadata().items()]
        return Response(200, Headers.from_lowercase(headers), item.data)

    async def delete_state(req: Request, params: dict[str, str]) -> Response:
        plain, meta = _query(req)
        item = DeleteItem(
            params["key"],
            req.headers.get("if-match"),
            plain.get("concurrency", ""),
            plain.get("consistency", ""),
            meta,
        )
        await api.delete(params["storeName"], item)
        return Response.empty(204)

    async def save_state(req: Request, params: dict[str, str]) -> Response:
        store = params["storeName"]
        api.store(store)  # an unknown store is reported before a bad body, as Dapr does
        bodies: list[_StateBody] = _decode(_SAVE, req.body) or []
        _, meta = _query(req)
        await api.save(store, [_save_item(b, meta) for b in bodies])
        return Response.empty(204)

    async def bulk_get(req: Request, params: dict[str, str]) -> Response:
        store = params["storeName"]
        api.store(store)
        body: _BulkGetBody = _decode(_BULK_GET, req.body) or _BulkGetBody()
        _, meta = _query(req)
        items = await api.bulk_get(store, body.keys, body.parallelism, {**(body.metadata or {}), **meta})
        out = [_item_json(i.key, i.item, i.error) for i in items]
        return Response.json(msgspec.json.encode(out))

    async def transaction(req: Request, params: dict[str, str]) -> Response:
        store = params["storeName"]
        api.store(store)
        body: _TxBody = _decode(_TX, req.body) or _TxBody()
        _, meta = _query(req)
        ops: list[TransactionOperation] = []
        for op in body.operations:
            r = op.request
            if op.operation == "delete":
                options = r.options or _Options()
                item: SaveItem | DeleteItem = DeleteItem(
                    r.key, r.etag, options.concurrency, options.consistency, dict(r.metadata or {})
                )
            else:
                item = _save_item(r, {})
            ops.append(TransactionOperation(op.operation, item))
        await api.transact(store, ops, {**(body.metadata or {}), **meta})
        return Response.empty(204)

    async def query(req: Request, params: dict[str, str]) -> Response:
        _, meta = _query(req)
        result = await api.query(params["storeName"], req.body, meta)
        if not result.items:
            return Response.empty(204)
        out: dict[str, Any] = {"results": [_item_json(k, item) for k, item in result.items]}
        for entry in out["results"]:
            entry.pop("metadata", None)
        if result.token:
            out["token"] = result.token
        return Response.json(msgspec.json.encode(out))

    async def list_keys(req: Request, params: dict[str, str]) -> Response:
        plain, _ = _query(req)
        try:
            limit = int(plain.get("limit") or 100)
        except ValueError:
            raise E.LIST_KEYS_BAD_INPUT(params["storeName"], "limit must be an integer") from None
        page = await api.list_keys(
            params["storeName"], plain.get("prefix", ""), limit, plain.get("token", "")
        )
        out: dict[str, Any] = {"keys": page.keys}
        if page.token:
            out["token"] = page.token
        return Response.json(msgspec.json.encode(out))

    def literal_key(handler: Any, key: str) -> Any:
        # /state/{store}/bulk and /transaction are routes of their own; GET or DELETE on them means
        # the key named "bulk" or "transaction".
        async def call(req: Request, params: dict[str, str]) -> Response:
            return await handler(req, {**params, "key": key})  # type: ignore[no-any-return]

        return call

    router.add("GET", "/v1.0/state/{storeName}/{key}", get_state)
    router.add("DELETE", "/v1.0/state/{storeName}/{key}", delete_state)
    router.add(("POST", "PUT"), "/v1.0/state/{storeName}", save_state)
    router.add(("POST", "PUT"), "/v1.0/state/{storeName}/bulk", bulk_get)
    router.add(("POST", "PUT"), "/v1.0/state/{storeName}/transaction", transaction)
    for literal in ("bulk", "transaction"):
        router.add("GET", f"/v1.0/state/{{storeName}}/{literal}", literal_key(get_state, literal))
        router.add("DELETE", f"/v1.0/state/{{storeName}}/{literal}", literal_key(delete_state, literal))
    router.add(("POST", "PUT"), "/v1.0-alpha1/state/{storeName}/query", query)
    router.add("GET", LIST_KEYS_ROUTE, list_keys)
