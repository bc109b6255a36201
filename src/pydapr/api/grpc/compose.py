"""Builds the ``Dapr`` gRPC servicer from per-block handler objects.

Each building block supplies an object whose methods are named like the RPCs it serves
(``GetState``, ``PublishEvent`` ...). Every RPC is wrapped once so a ``DaprError`` raised
anywhere becomes the right gRPC status; an RPC no block serves answers UNIMPLEMENTED with a
Dapr error, never a crash.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from pydapr import errors, rpc
from pydapr.api.grpc.status import abort
from pydapr.api.grpc.wire import DAPR_SERVICE

if TYPE_CHECKING:
    import grpc

log = logging.getLogger("pydapr.api.grpc")

RPC_NAMES = tuple(method.name for method in DAPR_SERVICE.methods)


def _wrap_unary(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:  # type: ignore[type-arg]
        try:
            return await fn(request, context)
        except errors.DaprError as err:
            await abort(context, err)
        except rpc.ABORT_ERRORS:
            raise
        except Exception as exc:
            log.exception("gRPC %s failed", fn.__name__)
            await abort(context, errors.INTERNAL(str(exc)))

    return call


def _wrap_stream(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:  # type: ignore[type-arg]
        try:
            async for item in fn(request, context):
                yield item
        except errors.DaprError as err:
            await abort(context, err)
        except rpc.ABORT_ERRORS:
            raise
        except Exception as exc:
            log.exception("gRPC %s failed", fn.__name__)
            await abort(context, errors.INTERNAL(str(exc)))

    return call


def _unimplemented(name: str) -> Callable[..., Any]:
    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:  # type: ignore[type-arg]
        await abort(context, errors.API_UNIMPLEMENTED(name))

    call.__name__ = name
    return call


class DaprServicer:
    """The ``Dapr`` service's RPCs, one attribute each (set by compose_servicer)."""


def compose_servicer(handlers: list[object]) -> DaprServicer:
    """One servicer whose RPCs are the handlers' methods; earlier handlers win over later ones."""
    servicer = DaprServicer()
    for name in RPC_NAMES:
        impl = None
        for handler in handlers:
            impl = getattr(handler, name, None)
            if impl is not None:
                break
        if impl is None:
            wrapped = _unimplemented(name)
        elif inspect.isasyncgenfunction(impl):
            wrapped = _wrap_stream(impl)
        else:
            wrapped = _wrap_unary(impl)
        setattr(servicer, name, wrapped)
    return servicer
