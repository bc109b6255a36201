"""The cryptography API both transports call: Dapr's validation order, the scheme, its errors.

``encrypt``/``decrypt`` turn a stream of input chunks into a stream of output chunks in the
``dapr.io/enc/v1`` format, one segment at a time, so memory stays bounded whatever the size. Errors
found before the first output (options, key wrapping, the header) are ``ERR_CRYPTO`` and friends;
errors met later (input sequence, a segment that fails to authenticate) are ``StreamError``.

The subtle operations take and return the gRPC messages, as Dapr's ``universal`` package does: the
HTTP routes are protojson renderings of the same requests (dapr/dapr pkg/api/http/subtlecrypto.go).
As in Dapr, subtle failures answer a generic "failed to <op>" (no padding or key oracles); the
cause is logged at debug level, never with key material.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from pydapr.api.grpc.wire import runtime
from pydapr.crypto import errors as E
from pydapr.resiliency import CircuitBreakerOpen, PolicyTimeout

if TYPE_CHECKING:
    from pydapr.crypto import scheme
    from pydapr.crypto.contract import SubtleCrypto

# The scheme, the keys and the provider contract import cryptography (~8 MB, ~0.2 s to import). Each
# operation imports them after ``provider()`` found a provider, so a sidecar with no crypto component
# never loads cryptography, and one with a component already has (the component imported them).

log = logging.getLogger("pydapr.crypto")

_PEM, _JSON = 0, 1  # SubtleGetKeyRequest.KeyFormat
# A Resiliency policy gave up on the provider (outbound component policy): reported with its cause.
_RESILIENCY = (PolicyTimeout, CircuitBreakerOpen)


def _failed() -> tuple[type[Exception], ...]:
    """What a provider call may raise that the API reports (its own errors, or a policy's)."""
    from pydapr.crypto.contract import CryptoProviderError

    return (CryptoProviderError, PolicyTimeout, CircuitBreakerOpen)


class EncryptOptions(msgspec.Struct, frozen=True):
    component: str
    key_name: str
    key_wrap_algorithm: str
    data_encryption_cipher: str = ""
    omit_decryption_key_name: bool = False
    decryption_key_name: str = ""


class DecryptOptions(msgspec.Struct, frozen=True):
    component: str
    key_name: str = ""


class CryptoAPI:
    def __init__(self, providers: Mapping[str, SubtleCrypto]) -> None:
        self._providers = providers

    def provider(self, name: str) -> SubtleCrypto:
        """Dapr's ``CryptoValidateRequest``: none configured, no name, unknown name, in that order."""
        if not self._providers:
            raise E.PROVIDERS_NOT_CONFIGURED()
        if not name:
            raise E.BAD_REQUEST("missing component name")
        provider = self._providers.get(name)
        if provider is None:
            raise E.PROVIDER_NOT_FOUND(name)
        return provider

    # --- dapr.io/enc/v1 streams ----------------------------------------------------------------

    async def encrypt(self, opts: EncryptOptions, data: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """Yields the header, then each sealed segment as the input fills it."""
        provider = self.provider(opts.component)
        from pydapr.crypto import scheme
        from pydapr.crypto.keys import Key

        try:
            algorithm = scheme.resolve_key_algorithm(opts.key_wrap_algorithm.upper())
            cipher = scheme.resolve_cipher((opts.data_encryption_cipher or "AES-GCM").upper())
        except scheme.SchemeError as exc:
            raise E.OPERATION(str(exc)) from None
        file_key, raw_key = scheme.FileKey.generate(cipher)
        try:
            wrapped, _ = await provider.wrap_key(Key.symmetric(raw_key), algorithm, opts.key_name, b"", b"")
        except _failed() as exc:
            raise E.OPERATION(f"failed to wrap the file key: {exc}") from None
        manifest_key = "" if opts.omit_decryption_key_name else (opts.decryption_key_name or opts.key_name)
        try:
            header, encryptor = scheme.new_message(manifest_key, algorithm, wrapped, file_key)
        except scheme.SchemeError as exc:
            raise E.OPERATION(str(exc)) from None
        yield header
        try:
            async for chunk in data:
                for segment in encryptor.feed(chunk):
                    yield segment
            last = encryptor.finish()
        except scheme.SchemeError as exc:
            raise E.StreamError(str(exc)) from None
        if last:
            yield last

    async def decrypt(self, opts: DecryptOptions, data: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """Yields each segment's plaintext only after that segment authenticated."""
        provider = self.provider(opts.component)
        from pydapr.crypto import scheme

        reader = scheme.HeaderReader()
        try:
            complete = False
            async for chunk in data:
                if reader.feed(chunk):
                    complete = True
                    break
            header = reader.header if complete else reader.finish()
            assert header is not None
            manifest = scheme.Manifest.decode(header.manifest)
        except scheme.SchemeError as exc:
            raise E.OPERATION(str(exc)) from None
        key_name = opts.key_name or manifest.key_name
        if not key_name:
            raise E.OPERATION(scheme.DECRYPTION_KEY_MISSING)
        file_key_bytes = await self._unwrap_file_key(provider, manifest, key_name)
        try:
            file_key = scheme.FileKey(file_key_bytes, manifest.nonce_prefix, manifest.cipher)
            file_key.verify_header(header.manifest, header.mac)
        except scheme.SchemeError as exc:
            raise E.OPERATION(str(exc)) from None
        decryptor = scheme.SegmentDecryptor(file_key)
        try:
            for plain in decryptor.feed(reader.rest):
                yield plain
            async for chunk in data:
                for plain in decryptor.feed(chunk):
                    yield plain
            last = decryptor.finish()
        except scheme.SchemeError as exc:
            raise E.StreamError(str(exc)) from None
        if last:
            yield last

    @staticmethod
    async def _unwrap_file_key(provider: SubtleCrypto, manifest: scheme.Manifest, key_name: str) -> bytes:
        # As in Dapr, an unwrap failure is not reported: decryption goes on with a zero key, whose
        # header MAC fails, so whether a key exists is not told apart from a wrong key.
        from pydapr.crypto import scheme
        from pydapr.crypto.contract import CryptoProviderError
        from pydapr.crypto.keys import InvalidKey

        try:
            key = await provider.unwrap_key(
                manifest.wrapped_key, manifest.key_algorithm, key_name, b"", b"", b""
            )
            return key.secret
        except _RESILIENCY as exc:  # the provider did not answer: nothing to hide
            raise E.OPERATION(f"failed to unwrap the file key: {exc}") from None
        except (CryptoProviderError, InvalidKey) as exc:
            log.debug("unwrapping the file key with key %r failed: %s", key_name, exc)
            return bytes(scheme.FILE_KEY_SIZE)

    # --- subtle --------------------------------------------------------------------------------

    async def subtle_get_key(self, req: Any) -> Any:
        provider = self.provider(req.component_name)
        if req.format not in (_PEM, _JSON):
            raise E.BAD_REQUEST("invalid key format")
        from pydapr.crypto.keys import InvalidKey, public_jwk, public_pem

        failed: tuple[type[Exception], ...] = (*_failed(), InvalidKey)
        try:
            key = await provider.get_key(req.name)
            public = (
                public_pem(key) if req.format == _PEM else json.dumps(public_jwk(key), separators=(",", ":"))
            )
        except failed as exc:
            raise E.GET_KEY(req.name, exc) from None
        return runtime.SubtleGetKeyResponse(name=req.name, public_key=public)

    async def subtle_encrypt(self, req: Any) -> Any:
        provider = self.provider(req.component_name)
        try:
            ciphertext, tag = await provider.encrypt(
                req.plaintext, req.algorithm, req.key_name, req.nonce, req.associated_data
            )
        except _failed() as exc:
            raise _hidden("encrypt", exc) from None
        return runtime.SubtleEncryptResponse(ciphertext=ciphertext, tag=tag)

    async def subtle_decrypt(self, req: Any) -> Any:
        provider = self.provider(req.component_name)
        try:
            plaintext = await provider.decrypt(
                req.ciphertext, req.algorithm, req.key_name, req.nonce, req.tag, req.associated_data
            )
        except _failed() as exc:
            raise _hidden("decrypt", exc) from None
        return runtime.SubtleDecryptResponse(plaintext=plaintext)

    async def subtle_wrap_key(self, req: Any) -> Any:
        provider = self.provider(req.component_name)
        from pydapr.crypto.keys import InvalidKey, parse_key

        try:
            plaintext_key = parse_key(req.plaintext_key)
        except InvalidKey as exc:
            raise E.OPERATION(f"failed to parse plaintext key: {exc}") from None
        try:
            wrapped, tag = await provider.wrap_key(
                plaintext_key, req.algorithm, req.key_name, req.nonce, req.associated_data
            )
        except _failed() as exc:
            raise _hidden("wrap key", exc) from None
        return runtime.SubtleWrapKeyResponse(wrapped_key=wrapped, tag=tag)

    async def subtle_unwrap_key(self, req: Any) -> Any:
        provider = self.provider(req.component_name)
        try:
            key = await provider.unwrap_key(
                req.wrapped_key, req.algorithm, req.key_name, req.nonce, req.tag, req.associated_data
            )
        except _failed() as exc:
            raise _hidden("unwrap key", exc) from None
        from pydapr.crypto.keys import serialize_key

        return runtime.SubtleUnwrapKeyResponse(plaintext_key=serialize_key(key))

    async def subtle_sign(self, req: Any) -> Any:
        provider = self.provider(req.component_name)
        try:
            signature = await provider.sign(req.digest, req.algorithm, req.key_name)
        except _failed() as exc:
            raise _hidden("sign", exc) from None
        return runtime.SubtleSignResponse(signature=signature)

    async def subtle_verify(self, req: Any) -> Any:
        provider = self.provider(req.component_name)
        try:
            valid = await provider.verify(req.digest, req.signature, req.algorithm, req.key_name)
        except _failed() as exc:
            raise _hidden("verify signature", exc) from None
        return runtime.SubtleVerifyResponse(valid=valid)


def _hidden(operation: str, exc: Exception) -> Exception:
    log.debug("subtle %s failed: %s", operation, exc)
    if isinstance(exc, _RESILIENCY):  # a timeout or an open breaker tells nothing about keys
        return E.OPERATION(f"failed to {operation}: {exc}")
    return E.OPERATION(f"failed to {operation}")
