"""Dapr's state RPCs (service dapr.proto.runtime.v1.Dapr, messages from ``wire``) over ``StateAPI``, and
pydapr's key-listing extension (service pydapr.ext.v1.StateExtensions, ``_ext/state.proto``)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from google.protobuf import empty_pb2

from pydapr import errors, rpc
from pydapr.api.grpc._ext import state_pb2 as ext_pb2
from pydapr.api.grpc.status import abort
from pydapr.api.grpc.wire import as_dict, common, runtime
from pydapr.state.api import DeleteItem, SaveItem, StateAPI, TransactionOperation

if TYPE_CHECKING:
    import grpc

log = logging.getLogger("pydapr.api.grpc")

DEFAULT_LIST_LIMIT = 100  # as the HTTP route's default

_CONCURRENCY = {
    common.StateOptions.CONCURRENCY_UNSPECIFIED: "",
    common.StateOptions.CONCURRENCY_FIRST_WRITE: "first-write",
    common.StateOptions.CONCURRENCY_LAST_WRITE: "last-write",
}
_CONSISTENCY = {
    common.StateOptions.CONSISTENCY_UNSPECIFIED: "",
    common.StateOptions.CONSISTENCY_EVENTUAL: "eventual",
    common.StateOptions.CONSISTENCY_STRONG: "strong",
}


def _options(item: Any) -> tuple[str, str]:
    if not item.HasField("options"):
        return "", ""
    opts = item.options
    # An enum value this sidecar does not know is passed on as a name the API refuses.
    concurrency = _CONCURRENCY.get(opts.concurrency, f"concurrency({opts.concurrency})")
    consistency = _CONSISTENCY.get(opts.consistency, f"consistency({opts.consistency})")
    return concurrency, consistency


def _etag(item: Any) -> str | None:
    return item.etag.value if item.HasField("etag") else None


def _save_item(item: Any) -> SaveItem:
    concurrency, consistency = _options(item)
    return SaveItem(item.key, item.value, _etag(item), concurrency, consistency, as_dict(item.metadata))


def _delete_item(item: Any) -> DeleteItem:
    concurrency, consistency = _options(item)
    return DeleteItem(item.key, _etag(item), concurrency, consistency, as_dict(item.metadata))


class StateGrpc:
    def __init__(self, api: StateAPI) -> None:
        self.api = api

    async def GetState(self, request: Any, context: Any) -> Any:
        consistency = _CONSISTENCY.get(request.consistency)
        if consistency is None:  # a value this sidecar does not know: a name the API refuses
            consistency = f"consistency({request.consistency})"
        item = await self.api.get(request.store_name, request.key, consistency, as_dict(request.metadata))
        if item is None:
            return runtime.GetStateResponse()
        metadata = item.response_metadata()
        if not metadata:  # an empty map field given to upb costs more than the rest of the reply
            return runtime.GetStateResponse(data=item.data, etag=item.etag)
        return runtime.GetStateResponse(data=item.data, etag=item.etag, metadata=metadata)

    async def GetBulkState(self, request: Any, context: Any) -> Any:
        items = await self.api.bulk_get(
            request.store_name, list(request.keys), request.parallelism, as_dict(request.metadata)
        )
        out = []
        for i in items:
            if i.item is None:
                out.append(runtime.BulkStateItem(key=i.key, error=i.error))
            else:
                out.append(
                    runtime.BulkStateItem(
                        key=i.key, data=i.item.data, etag=i.item.etag, metadata=i.item.response_metadata()
                    )
                )
        return runtime.GetBulkStateResponse(items=out)

    async def SaveState(self, request: Any, context: Any) -> empty_pb2.Empty:
        await self.api.save(request.store_name, [_save_item(s) for s in request.states])
        return empty_pb2.Empty()

    async def DeleteState(self, request: Any, context: Any) -> empty_pb2.Empty:
        item = common.StateItem(
            key=request.key, etag=request.etag, options=request.options, metadata=request.metadata
        )
        if not request.HasField("etag"):
            item.ClearField("etag")
        if not request.HasField("options"):
            item.ClearField("options")
        await self.api.delete(request.store_name, _delete_item(item))
        return empty_pb2.Empty()

    async def DeleteBulkState(self, request: Any, context: Any) -> empty_pb2.Empty:
        await self.api.bulk_delete(request.store_name, [_delete_item(s) for s in request.states])
        return empty_pb2.Empty()

    async def ExecuteStateTransaction(self, request: Any, context: Any) -> empty_pb2.Empty:
        ops = []
        for op in request.operations:
            item = _delete_item(op.request) if op.operationType == "delete" else _save_item(op.request)
            ops.append(TransactionOperation(op.operationType, item))
        await self.api.transact(request.storeName, ops, as_dict(request.metadata))
        return empty_pb2.Empty()

    async def QueryStateAlpha1(self, request: Any, context: Any) -> Any:
        result = await self.api.query(request.store_name, request.query, as_dict(request.metadata))
        return runtime.QueryStateResponse(
            results=[runtime.QueryStateItem(key=k, data=i.data, etag=i.etag) for k, i in result.items],
            token=result.token,
        )


# --- pydapr extension: listing keys ---------------------------------------------------------------

Req = TypeVar("Req")
Resp = TypeVar("Resp")
Rpc = Callable[[Any, Req, Any], Awaitable[Resp]]


def _dapr_errors(fn: Rpc[Req, Resp]) -> Rpc[Req, Resp]:
    """What compose.py does for the Dapr service: a DaprError becomes its gRPC status (with ErrorInfo),
    anything else an INTERNAL one, logged; never a bare crash."""

    @functools.wraps(fn)
    async def call(self: Any, request: Req, context: grpc.aio.ServicerContext) -> Resp:  # type: ignore[type-arg]
        try:
            return await fn(self, request, context)
        except errors.DaprError as err:
            await abort(context, err)
        except rpc.ABORT_ERRORS:
            raise
        except Exception as exc:
            log.exception("gRPC %s failed", fn.__name__)
            await abort(context, errors.INTERNAL(str(exc)))
        raise AssertionError("unreachable: abort raises")

    return call


class StateExtensionsGrpc:
    """``pydapr.ext.v1.StateExtensions``, served beside Dapr's service on the sidecar's gRPC port."""

    def __init__(self, api: StateAPI) -> None:
        self.api = api

    @_dapr_errors
    async def ListStateKeys(
        self, request: ext_pb2.ListStateKeysRequest, context: Any
    ) -> ext_pb2.ListStateKeysResponse:
        limit = request.limit or DEFAULT_LIST_LIMIT
        page = await self.api.list_keys(request.store_name, request.prefix, limit, request.token)
        return ext_pb2.ListStateKeysResponse(keys=page.keys, token=page.token)

    def add_to_server(self, server: grpc.aio.Server) -> None:
        service = ext_pb2.DESCRIPTOR.services_by_name["StateExtensions"]
        server.add_generic_rpc_handlers([rpc.servicer_handler(service, self)])
