"""Dapr's cryptography HTTP routes over ``CryptoAPI``.

``PUT /v1.0-alpha1/crypto/{name}/encrypt|decrypt`` take the raw body and answer the whole result as
``application/octet-stream`` (Dapr buffers it too, to report errors as JSON); options come in the
``dapr-*`` headers. ``POST /v1.0-alpha1/subtlecrypto/{name}/<op>`` take and answer the subtle
request and response messages as protojson (camelCase names, bytes in base64), as Dapr's universal
HTTP handler does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec

from pydapr.api.grpc.wire import runtime
from pydapr.api.http.router import Router
from pydapr.crypto import errors as E
from pydapr.crypto.api import CryptoAPI, DecryptOptions, EncryptOptions
from pydapr.http.messages import Headers, Request, Response

KEY_NAME = "dapr-key-name"
KEY_WRAP_ALGORITHM = "dapr-key-wrap-algorithm"
OMIT_DECRYPTION_KEY_NAME = "dapr-omit-decryption-key-name"
DECRYPTION_KEY_NAME = "dapr-decryption-key-name"
DATA_ENCRYPTION_CIPHER = "dapr-data-encryption-cipher"

_TRUTHY = frozenset(("y", "yes", "true", "t", "on", "1"))  # dapr/kit strings.IsTruthy


async def _one(body: bytes) -> AsyncIterator[bytes]:
    yield body


async def _collect(stream: AsyncIterator[bytes]) -> Response:
    try:
        body = b"".join([chunk async for chunk in stream])
    except E.StreamError as err:
        raise E.GENERIC(err.reason) from None
    return Response(200, Headers.from_lowercase([("content-type", "application/octet-stream")]), body)


def register(router: Router, api: CryptoAPI) -> None:
    async def encrypt(req: Request, params: dict[str, str]) -> Response:
        name = params["name"]
        api.provider(name)  # Dapr checks the component before the headers on this route
        key_name = req.headers.get(KEY_NAME) or ""
        if not key_name:
            raise E.BAD_REQUEST(f"missing header '{KEY_NAME}'")
        algorithm = req.headers.get(KEY_WRAP_ALGORITHM) or ""
        if not algorithm:
            raise E.BAD_REQUEST(f"missing header '{KEY_WRAP_ALGORITHM}'")
        opts = EncryptOptions(
            component=name,
            key_name=key_name,
            key_wrap_algorithm=algorithm,
            data_encryption_cipher=req.headers.get(DATA_ENCRYPTION_CIPHER) or "",
            omit_decryption_key_name=(req.headers.get(OMIT_DECRYPTION_KEY_NAME) or "").lower() in _TRUTHY,
            decryption_key_name=req.headers.get(DECRYPTION_KEY_NAME) or "",
        )
        return await _collect(api.encrypt(opts, _one(req.body)))

    async def decrypt(req: Request, params: dict[str, str]) -> Response:
        opts = DecryptOptions(component=params["name"], key_name=req.headers.get(KEY_NAME) or "")
        return await _collect(api.decrypt(opts, _one(req.body)))

    router.add("PUT", "/v1.0-alpha1/crypto/{name}/encrypt", encrypt)
    router.add("PUT", "/v1.0-alpha1/crypto/{name}/decrypt", decrypt)

    subtle: list[tuple[str, str, Callable[[Any], Awaitable[Any]]]] = [
        ("getkey", "SubtleGetKeyRequest", api.subtle_get_key),
        ("encrypt", "SubtleEncryptRequest", api.subtle_encrypt),
        ("decrypt", "SubtleDecryptRequest", api.subtle_decrypt),
        ("wrapkey", "SubtleWrapKeyRequest", api.subtle_wrap_key),
        ("unwrapkey", "SubtleUnwrapKeyRequest", api.subtle_unwrap_key),
        ("sign", "SubtleSignRequest", api.subtle_sign),
        ("verify", "SubtleVerifyRequest", api.subtle_verify),
    ]
    for op, request_type, call in subtle:
        router.add("POST", f"/v1.0-alpha1/subtlecrypto/{{name}}/{op}", _universal(request_type, call))


def _universal(request_type: str, call: Callable[[Any], Awaitable[Any]]) -> Any:
    message_class = getattr(runtime, request_type)

    async def handle(req: Request, params: dict[str, str]) -> Response:
        # Imported by the first subtle call (protobuf's JSON module is not needed at startup).
        from google.protobuf import json_format

        message = message_class()
        if req.body:
            try:
                json_format.Parse(req.body, message, ignore_unknown_fields=True)
            except (json_format.ParseError, UnicodeDecodeError) as exc:  # bytes that are no UTF-8 too
                raise E.MALFORMED_REQUEST(exc) from None
        message.component_name = params["name"]
        result = await call(message)
        return Response.json(msgspec.json.encode(json_format.MessageToDict(result)))

    return handle
