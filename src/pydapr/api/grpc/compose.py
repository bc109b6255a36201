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
from typing import Any

import grpc
from dapr.proto.runtime.v1 import dapr_pb2_grpc

from pydapr import errors
from pydapr.api.grpc.status import abort

log = logging.getLogger("pydapr.api.grpc")

RPC_NAMES = tuple(n for n in dir(dapr_pb2_grpc.DaprServicer) if not n.startswith("_") and n[0].isupper())


def _wrap_unary(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:  # type: ignore[type-arg]
        try:
            return await fn(request, context)
        except errors.DaprError as err:
            await abort(context, err)
        except grpc.aio.AbortError:
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
        except grpc.aio.AbortError:
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


def compose_servicer(handlers: list[object]) -> dapr_pb2_grpc.DaprServicer:
    """One servicer whose RPCs are the handlers' methods; later handlers don't override earlier ones."""
    servicer = dapr_pb2_grpc.DaprServicer()
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
