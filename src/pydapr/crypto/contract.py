"""What a crypto provider offers (components-contrib ``crypto.SubtleCrypto``), and the local base.

A provider holds keys by name and performs the subtle operations with them: get the public part,
encrypt/decrypt small messages, wrap/unwrap keys, sign/verify digests. ``LocalCryptoComponent`` is
Dapr's ``LocalCryptoBaseComponent``: the component only finds a key by name, the operations run in
the sidecar, and a key's ``key_ops``/``use``/``alg`` attributes restrict what it may be used for.
Failures raise ``CryptoProviderError`` whose message names what failed, never key material.
"""

from __future__ import annotations

from pydapr.components.base import Component
from pydapr.crypto import algorithms
from pydapr.crypto.keys import KEY_TYPES, InvalidKey, Key, parse_key, serialize_key


class CryptoProviderError(Exception):
    """An operation of a crypto provider failed (key missing, not allowed, wrong algorithm ...)."""


class KeyNotFound(CryptoProviderError):
    def __init__(self) -> None:
        super().__init__("key not found")


class SubtleCrypto(Component):
    """Base of all crypto providers."""

    async def get_key(self, name: str) -> Key:
        """The public part of an asymmetric key (symmetric keys are "not found", as in Dapr)."""
        raise NotImplementedError

    async def encrypt(
        self, plaintext: bytes, algorithm: str, key_name: str, nonce: bytes, associated_data: bytes
    ) -> tuple[bytes, bytes]:
        raise NotImplementedError

    async def decrypt(
        self,
        ciphertext: bytes,
        algorithm: str,
        key_name: str,
        nonce: bytes,
        tag: bytes,
        associated_data: bytes,
    ) -> bytes:
        raise NotImplementedError

    async def wrap_key(
        self, plaintext_key: Key, algorithm: str, key_name: str, nonce: bytes, associated_data: bytes
    ) -> tuple[bytes, bytes]:
        raise NotImplementedError

    async def unwrap_key(
        self,
        wrapped_key: bytes,
        algorithm: str,
        key_name: str,
        nonce: bytes,
        tag: bytes,
        associated_data: bytes,
    ) -> Key:
        raise NotImplementedError

    async def sign(self, digest: bytes, algorithm: str, key_name: str) -> bytes:
        raise NotImplementedError

    async def verify(self, digest: bytes, signature: bytes, algorithm: str, key_name: str) -> bool:
        raise NotImplementedError


_ENC_OPS = ("encrypt", "decrypt", "wrapKey", "unwrapKey")
_SIG_OPS = ("sign", "verify")


def key_can_perform_operation(key: Key, op: str) -> bool:
    """RFC 7517 ``key_ops`` and ``use``: absent means any operation."""
    if key.key_ops and op not in key.key_ops:
        return False
    if key.use:
        if op in _ENC_OPS:
            return key.use == "enc"
        if op in _SIG_OPS:
            return key.use == "sig"
    return True


def key_can_perform_algorithm(key: Key, algorithm: str) -> bool:
    return not key.alg or key.alg == algorithm


class LocalCryptoComponent(SubtleCrypto):
    """Operations performed in the sidecar over keys that ``retrieve_key`` finds."""

    async def retrieve_key(self, name: str) -> Key:
        raise NotImplementedError

    async def _key_for(self, name: str, op: str, algorithm: str, what: str = "key") -> Key:
        try:
            key = await self.retrieve_key(name)
        except CryptoProviderError as exc:
            raise CryptoProviderError(f"failed to retrieve the {what}: {exc}") from None
        if not key_can_perform_operation(key, op):
            raise CryptoProviderError(f"key cannot perform the '{op}' operation")
        if not key_can_perform_algorithm(key, algorithm):
            raise CryptoProviderError(f"key cannot be used with algorithm '{algorithm}'")
        return key

    async def get_key(self, name: str) -> Key:
        key = await self.retrieve_key(name)
        if key.kty == "oct":
            raise KeyNotFound()
        return key.public()

    async def encrypt(
        self, plaintext: bytes, algorithm: str, key_name: str, nonce: bytes, associated_data: bytes
    ) -> tuple[bytes, bytes]:
        key = await self._key_for(key_name, "encrypt", algorithm)
        try:
            return algorithms.encrypt(plaintext, algorithm, key, nonce, associated_data)
        except algorithms.CryptoOperationError as exc:
            raise CryptoProviderError(f"failed to encrypt data: {exc}") from None

    async def decrypt(
        self,
        ciphertext: bytes,
        algorithm: str,
        key_name: str,
        nonce: bytes,
        tag: bytes,
        associated_data: bytes,
    ) -> bytes:
        key = await self._key_for(key_name, "decrypt", algorithm)
        try:
            return algorithms.decrypt(ciphertext, algorithm, key, nonce, tag, associated_data)
        except algorithms.CryptoOperationError as exc:
            raise CryptoProviderError(f"failed to decrypt data: {exc}") from None

    async def wrap_key(
        self, plaintext_key: Key, algorithm: str, key_name: str, nonce: bytes, associated_data: bytes
    ) -> tuple[bytes, bytes]:
        plaintext = serialize_key(plaintext_key)
        kek = await self._key_for(key_name, "wrapKey", algorithm, "key encryption key")
        try:
            return algorithms.encrypt(plaintext, algorithm, kek, nonce, associated_data)
        except algorithms.CryptoOperationError as exc:
            raise CryptoProviderError(f"failed to encrypt data: {exc}") from None

    async def unwrap_key(
        self,
        wrapped_key: bytes,
        algorithm: str,
        key_name: str,
        nonce: bytes,
        tag: bytes,
        associated_data: bytes,
    ) -> Key:
        kek = await self._key_for(key_name, "unwrapKey", algorithm, "key encryption key")
        try:
            plaintext = algorithms.decrypt(wrapped_key, algorithm, kek, nonce, tag, associated_data)
        except algorithms.CryptoOperationError as exc:
            raise CryptoProviderError(f"failed to decrypt data: {exc}") from None
        # Only symmetric keys are wrapped, so the plaintext is the raw key (as in Dapr).
        return Key.symmetric(plaintext)

    async def sign(self, digest: bytes, algorithm: str, key_name: str) -> bytes:
        key = await self._key_for(key_name, "sign", algorithm)
        try:
            return algorithms.sign(digest, algorithm, key)
        except algorithms.CryptoOperationError as exc:
            raise CryptoProviderError(f"failed to sign message: {exc}") from None

    async def verify(self, digest: bytes, signature: bytes, algorithm: str, key_name: str) -> bool:
        key = await self._key_for(key_name, "verify", algorithm)
        try:
            return algorithms.verify(digest, signature, algorithm, key)
        except algorithms.CryptoOperationError as exc:
            raise CryptoProviderError(f"failed to validate the signature: {exc}") from None


def parse_stored_key(raw: bytes, content_type: str = "") -> Key:
    """A key read from storage, limited to the key types Dapr's local components accept."""
    try:
        key = parse_key(raw, content_type)
    except InvalidKey as exc:
        raise CryptoProviderError(f"failed to parse key from secret: {exc}") from None
    if key.kty not in KEY_TYPES:
        raise CryptoProviderError("failed to parse key from secret: invalid key type")
    return key
