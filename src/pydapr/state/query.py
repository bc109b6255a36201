"""Dapr's state query language: parse the JSON body into ``contract.Query``, and evaluate it in Python.

The JSON form is components-contrib's (state/query): ``{"filter": {...}, "sort": [...], "page":
{"limit": n, "token": "..."}}``; keys in filters and sorts are dot paths into the stored JSON value.
The page token is the offset of the next page, as Dapr's SQL stores make it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from pydapr.api.http.jsonbody import BodyDecoder
from pydapr.state.contract import Combine, Compare, Filter, Query, QueryError, QueryResult, Sort, StateItem

COMPARE_OPS = frozenset({"EQ", "NEQ", "GT", "GTE", "LT", "LTE", "IN"})
COMBINE_OPS = frozenset({"AND", "OR"})
MISSING: Any = object()


def parse_query(body: bytes | str, key_prefix: str) -> Query:
    """Parse a query body; raises QueryError with a message naming what is wrong."""
    try:
        doc = _as_dict(_QUERY.decode(body.encode() if isinstance(body, str) else body))
    except msgspec.DecodeError as exc:
        raise QueryError(f"failed to parse JSON query body: {exc}") from None
    except msgspec.ValidationError as exc:
        raise QueryError(f"failed to parse JSON query body: {exc}") from None
    raw_filter = doc.get("filter")
    flt = _parse_filter(raw_filter) if raw_filter else None
    sorts: list[Sort] = []
    for entry in doc.get("sort") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str) or not entry["key"]:
            raise QueryError(f"invalid sort entry {entry!r}: needs a non-empty 'key'")
        order = str(entry.get("order") or "ASC").upper()
        if order not in ("ASC", "DESC"):
            raise QueryError(f"invalid sort order {entry.get('order')!r}: use ASC or DESC")
        sorts.append(Sort(_path(entry["key"]), descending=order == "DESC"))
    page = doc.get("page") or {}
    if not isinstance(page, dict):
        raise QueryError("'page' must be an object")
    limit = page.get("limit", 0)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise QueryError(f"invalid page limit {limit!r}")
    offset = 0
    token = page.get("token") or ""
    if token:
        try:
            offset = int(token)
        except (TypeError, ValueError):
            raise QueryError(f"invalid page token {token!r}") from None
        if offset < 0:
            raise QueryError(f"invalid page token {token!r}")
    return Query(flt, tuple(sorts), limit, offset, key_prefix)


class _SortDoc(msgspec.Struct, forbid_unknown_fields=True):
    key: Any = None
    order: Any = None


class _PageDoc(msgspec.Struct, forbid_unknown_fields=True):
    limit: Any = 0
    token: Any = None


class _Doc(msgspec.Struct, forbid_unknown_fields=True):
    # contrib's query.Query, decoded as Go does (``Filter``, ``Sort[].Key``, ``Page.Limit``...);
    # the values are checked by parse_query, which names what is wrong.
    filter: Any = None
    sort: list[_SortDoc] | None = None
    page: _PageDoc | None = None


_QUERY: BodyDecoder[_Doc] = BodyDecoder(_Doc)


def _as_dict(doc: _Doc) -> dict[str, Any]:
    out: dict[str, Any] = {"filter": doc.filter}
    if doc.sort:
        out["sort"] = [{"key": e.key, "order": e.order} for e in doc.sort]
    if doc.page is not None:
        out["page"] = {"limit": doc.page.limit, "token": doc.page.token}
    return out


def _path(key: str) -> tuple[str, ...]:
    parts = tuple(key.split("."))
    if any(not p for p in parts):
        raise QueryError(f"invalid key {key!r}")
    return parts


def _parse_filter(raw: Any) -> Filter:
    if not isinstance(raw, dict) or len(raw) != 1:
        raise QueryError(f"a filter must be an object with exactly one operator, got {raw!r}")
    ((op, arg),) = raw.items()
    if op in COMBINE_OPS:
        if not isinstance(arg, list) or not arg:
            raise QueryError(f"{op} needs a non-empty list of filters")
        return Combine(op, tuple(_parse_filter(f) for f in arg))
    if op in COMPARE_OPS:
        if not isinstance(arg, dict) or len(arg) != 1:
            raise QueryError(f"{op} needs an object with exactly one key, got {arg!r}")
        ((key, value),) = arg.items()
        if op == "IN" and (not isinstance(value, list) or not value):
            raise QueryError(f"empty or non-list IN operator for key {key!r}")
        if op in ("GT", "GTE", "LT", "LTE") and not _is_number(value):
            raise QueryError(f"{op} on {key!r} needs a number, got {value!r}")
        return Compare(op, _path(key), value)
    raise QueryError(f"filter {op!r} is not supported")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# --- evaluation in Python (stores with no query engine of their own) ------------------------------


def extract(doc: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(doc, dict) or part not in doc:
            return MISSING
        doc = doc[part]
    return doc


def _same(a: Any, b: Any) -> bool:
    # JSON true is not 1: compare booleans only with booleans.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    return bool(a == b)


def matches(flt: Filter, doc: Any) -> bool:
    if isinstance(flt, Combine):
        results = (matches(f, doc) for f in flt.filters)
        return all(results) if flt.op == "AND" else any(results)
    found = extract(doc, flt.path)
    if flt.op == "EQ":
        return found is not MISSING and _same(found, flt.value)
    if flt.op == "NEQ":
        return found is MISSING or not _same(found, flt.value)
    if flt.op == "IN":
        return found is not MISSING and any(_same(found, v) for v in flt.value)
    if not _is_number(found):
        return False
    if flt.op == "GT":
        return bool(found > flt.value)
    if flt.op == "GTE":
        return bool(found >= flt.value)
    if flt.op == "LT":
        return bool(found < flt.value)
    return bool(found <= flt.value)


def _sort_key(value: Any) -> tuple[int, Any]:
    # Values of different JSON types never compare: order by type first, missing values last.
    if value is MISSING or value is None:
        return (4, 0)
    if isinstance(value, bool):
        return (0, value)
    if _is_number(value):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3, msgspec.json.encode(value))


def evaluate(query: Query, rows: Iterable[tuple[str, StateItem]]) -> QueryResult:
    """Run ``query`` over (key, item) rows: rows whose value is not JSON never match."""
    selected: list[tuple[str, StateItem, Any]] = []
    for key, item in rows:
        if not key.startswith(query.key_prefix):
            continue
        try:
            doc = msgspec.json.decode(item.data)
        except msgspec.DecodeError:
            continue
        if query.filter is None or matches(query.filter, doc):
            selected.append((key, item, doc))
    selected.sort(key=lambda r: r[0])
    for sort in reversed(query.sort):
        selected.sort(key=lambda r, s=sort: _sort_key(extract(r[2], s.path)), reverse=sort.descending)  # type: ignore[misc]
    page = selected[query.offset :]
    if query.limit:
        page = page[: query.limit]
    token = str(query.offset + len(page)) if query.limit else ""
    return QueryResult([(k, item) for k, item, _ in page], token)
