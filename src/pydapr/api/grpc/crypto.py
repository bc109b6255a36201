"""``EncryptAlpha1``/``DecryptAlpha1`` (bidirectional streams) and the ``Subtle*Alpha1`` RPCs over
``CryptoAPI``.

The stream wire work is here, as in dapr/dapr pkg/api/grpc/crypto.go: the first message must come
within 5 s and carry the options; later messages carry only payloads whose ``seq`` counts up from 0;
responses carry ``seq`` from 0, one per header or segment.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from pydapr.api.grpc.wire import runtime
from pydapr.crypto import errors as E
from pydapr.crypto.api import CryptoAPI, DecryptOptions, EncryptOptions

FIRST_CHUNK_TIMEOUT = 5.0


async def _first_message(requests: AsyncIterator[Any]) -> Any:
    try:
        return await asyncio.wait_for(anext(requests), FIRST_CHUNK_TIMEOUT)
    except TimeoutError:
        raise E.BAD_REQUEST("error waiting for first message: context deadline exceeded") from None
    except StopAsyncIteration:
        raise E.OPERATION("error receiving the first message: EOF") from None


async def _payloads(first: Any, requests: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    expect = 0
    message = first
    while True:
        if message.HasField("payload"):
            payload = message.payload
            if payload.seq != expect:
                raise E.StreamError(f"invalid sequence number received: {payload.seq} (expected: {expect})")
            expect += 1
            if payload.data:
                yield payload.data
        try:
            message = await anext(requests)
        except StopAsyncIteration:
            return
        if message.HasField("options"):
            raise E.StreamError("options found in non-leading message")


def _response(message_class: Any, data: bytes, seq: int) -> Any:
    # Filling the payload in place spares the copy of a submessage passed to the constructor.
    message = message_class()
    message.payload.data = data
    message.payload.seq = seq
    return message


class CryptoGrpc:
    def __init__(self, api: CryptoAPI) -> None:
        self.api = api

    async def EncryptAlpha1(self, request_iterator: Any, context: Any) -> AsyncIterator[Any]:
        requests = aiter(request_iterator)
        first = await _first_message(requests)
        if not first.HasField("options"):
            raise E.BAD_REQUEST("first message does not contain the required options")
        o = first.options
        if not o.key_name:
            raise E.BAD_REQUEST("missing property 'keyName' in the options message")
        if not o.key_wrap_algorithm:
            raise E.BAD_REQUEST("missing property 'keyWrapAlgorithm' in the options message")
        opts = EncryptOptions(
            component=o.component_name,
            key_name=o.key_name,
            key_wrap_algorithm=o.key_wrap_algorithm,
            data_encryption_cipher=o.data_encryption_cipher,
            omit_decryption_key_name=o.omit_decryption_key_name,
            decryption_key_name=o.decryption_key_name,
        )
        seq = 0
        async for chunk in self.api.encrypt(opts, _payloads(first, requests)):
            yield _response(runtime.EncryptResponse, chunk, seq)
            seq += 1

    async def DecryptAlpha1(self, request_iterator: Any, context: Any) -> AsyncIterator[Any]:
        requests = aiter(request_iterator)
        first = await _first_message(requests)
        if not first.HasField("options"):
            raise E.BAD_REQUEST("first message does not contain the required options")
        opts = DecryptOptions(component=first.options.component_name, key_name=first.options.key_name)
        seq = 0
        async for chunk in self.api.decrypt(opts, _payloads(first, requests)):
            yield _response(runtime.DecryptResponse, chunk, seq)
            seq += 1

    async def SubtleGetKeyAlpha1(self, request: Any, context: Any) -> Any:
        return await self.api.subtle_get_key(request)

    async def SubtleEncryptAlpha1(self, request: Any, context: Any) -> Any:
        return await self.api.subtle_encrypt(request)

    async def SubtleDecryptAlpha1(self, request: Any, context: Any) -> Any:
        return await self.api.subtle_decrypt(request)

    async def SubtleWrapKeyAlpha1(self, request: Any, context: Any) -> Any:
        return await self.api.subtle_wrap_key(request)

    async def SubtleUnwrapKeyAlpha1(self, request: Any, context: Any) -> Any:
        return await self.api.subtle_unwrap_key(request)

    async def SubtleSignAlpha1(self, request: Any, context: Any) -> Any:
        return await self.api.subtle_sign(request)

    async def SubtleVerifyAlpha1(self, request: Any, context: Any) -> Any:
        return await self.api.subtle_verify(request)
