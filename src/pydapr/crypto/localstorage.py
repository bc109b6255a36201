"""``crypto.dapr.localstorage``: keys are files in a local folder, named by file name.

Metadata (components-contrib crypto/localstorage): ``path``, the folder (required; relative paths
resolve against the sidecar's working directory; it must exist at init). Each operation reads the
key file afresh, so keys can be added or rotated without a restart. ``*.json`` files are JWKs,
``*.pem`` files PEM; other files are recognised by shape (JWK, PEM, or raw symmetric bytes, e.g. 32
random bytes for an AES-256 key, optionally base64). Names containing ``..`` are refused.
"""

from __future__ import annotations

from pathlib import Path

from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.crypto.contract import CryptoProviderError, LocalCryptoComponent, parse_stored_key
from pydapr.crypto.keys import Key

_CONTENT_TYPES = {".json": "application/json", ".pem": "application/x-pem-file"}


class LocalStorageCrypto(LocalCryptoComponent):
    root: Path

    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        value = metadata.get("path") or ""
        if not value:
            raise ComponentConfigError(metadata.name, "path", "is required")
        root = metadata.resolve_path(value)
        if not root.exists():
            raise ComponentConfigError(
                metadata.name, "path", f"could not stat path '{value}': no such directory"
            )
        if not root.is_dir():
            raise ComponentConfigError(metadata.name, "path", f"path '{value}' is not a directory")
        self.root = root

    async def retrieve_key(self, name: str) -> Key:
        if ".." in name:
            raise CryptoProviderError("invalid key path: cannot contain '..'")
        path = self.root / name
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise CryptoProviderError(f"failed to load key '{name}': no such file") from None
        except OSError as exc:
            raise CryptoProviderError(
                f"failed to load key '{name}': {exc.strerror or type(exc).__name__}"
            ) from None
        return parse_stored_key(data, _CONTENT_TYPES.get(path.suffix.lower(), ""))
