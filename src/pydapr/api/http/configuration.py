"""Dapr's configuration HTTP routes over ``ConfigurationAPI`` (v1.0 and v1.0-alpha1 paths).

``GET /{store}?key=a&key=b`` answers the items (204 when none), ``GET /{store}/subscribe`` answers
``{"id"}`` and sends updates to the app, ``GET /{store}/{id}/unsubscribe`` answers ``{"ok": true}``
or 500 with ``{"ok": false, "message"}`` as Dapr does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

import msgspec

from pydapr.api.http.router import Router
from pydapr.configuration import errors as E
from pydapr.configuration.api import ConfigurationAPI
from pydapr.errors import DaprError
from pydapr.http.messages import Request, Response

if TYPE_CHECKING:
    from pydapr.configuration.block import ConfigurationBlock

METADATA_PREFIX = "metadata."


def _query(req: Request) -> tuple[list[str], dict[str, str]]:
    keys: list[str] = []
    meta: dict[str, str] = {}
    for name, value in parse_qsl(req.query, keep_blank_values=True):
        if name == "key":
            keys.append(value)
        elif name.startswith(METADATA_PREFIX):
            meta.setdefault(name[len(METADATA_PREFIX) :], value)
    return keys, meta


def register(router: Router, api: ConfigurationAPI, block: ConfigurationBlock) -> None:
    async def get(req: Request, params: dict[str, str]) -> Response:
        keys, meta = _query(req)
        items = await api.get(params["storeName"], keys, meta)
        if not items:
            return Response.empty(204)
        return Response.json(msgspec.json.encode({k: v.to_json() for k, v in items.items()}))

    async def subscribe(req: Request, params: dict[str, str]) -> Response:
        store = params["storeName"]
        api.store(store)
        if not block.app_reachable:
            raise E.APP_CHANNEL_NIL()
        keys, meta = _query(req)
        sub_id = await block.subscribe_app(store, keys, meta)
        return Response.json(msgspec.json.encode({"id": sub_id}))

    async def unsubscribe(req: Request, params: dict[str, str]) -> Response:
        store = params["storeName"]
        api.store(store)
        try:
            await block.unsubscribe_app(store, params["subscribeId"])
        except DaprError as err:
            if err.code != E.UNSUBSCRIBE.code:
                raise
            return Response.json(msgspec.json.encode({"ok": False, "message": err.message}), 500)
        return Response.json(msgspec.json.encode({"ok": True}))

    for version in ("v1.0", "v1.0-alpha1"):
        base = f"/{version}/configuration/{{storeName}}"
        router.add("GET", base, get)
        router.add("GET", base + "/subscribe", subscribe)
        router.add("GET", base + "/{subscribeId}/unsubscribe", unsubscribe)
