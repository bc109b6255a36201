"""``crypto.dapr.jwks``: keys from a JSON Web Key Set, named by their ``kid``.

Metadata (components-contrib crypto/jwks, dapr/kit jwkscache): ``jwks`` (required) is the set itself
as JSON (optionally base64), a path to a file holding it (relative to the sidecar's working
directory; re-read when the file changes), or an ``http(s)://`` URL fetched at init (init fails if
it cannot be fetched) and again when a lookup finds the set older than ``minRefreshInterval``
(default 10m); ``requestTimeout`` (default 30s) bounds each fetch. Durations are Go durations or
whole seconds.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import ssl
import time
from pathlib import Path
from urllib.parse import urlsplit

from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.crypto.contract import CryptoProviderError, KeyNotFound, LocalCryptoComponent
from pydapr.crypto.keys import InvalidKey, Key, parse_jwks
from pydapr.http.client import HttpClient, HttpClientError
from pydapr.resources.durations import parse_duration

log = logging.getLogger("pydapr.crypto.jwks")

DEFAULT_REQUEST_TIMEOUT = 30.0
DEFAULT_MIN_REFRESH_INTERVAL = 600.0


def _duration(meta: ComponentMetadata, name: str, default: float, minimum: float) -> float:
    text = (meta.get(name) or "").strip()
    if not text:
        return default
    try:
        seconds = float(int(text)) if text.lstrip("-").isdigit() else parse_duration(text)
    except ValueError as exc:
        raise ComponentConfigError(meta.name, name, str(exc)) from None
    return default if seconds < minimum else seconds


def _index(keys: list[Key]) -> dict[str, Key]:
    return {k.kid: k for k in keys if k.kid}


class JWKSCrypto(LocalCryptoComponent):
    def __init__(self) -> None:
        self._keys: dict[str, Key] = {}
        self._url: str | None = None
        self._file: Path | None = None
        self._file_mtime = 0.0
        self._fetched_at = 0.0
        self._client: HttpClient | None = None

    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        if not metadata.properties:
            raise ComponentConfigError(metadata.name, "jwks", "empty metadata properties")
        location = metadata.get("jwks") or ""
        if not location:
            raise ComponentConfigError(metadata.name, "jwks", "metadata property 'jwks' is required")
        self.request_timeout = _duration(metadata, "requestTimeout", DEFAULT_REQUEST_TIMEOUT, 0.001)
        self.min_refresh_interval = _duration(
            metadata, "minRefreshInterval", DEFAULT_MIN_REFRESH_INTERVAL, 1.0
        )
        if location.startswith(("https://", "http://")):
            if location.startswith("http://"):
                log.warning("%s: loading a JWKS over HTTP without TLS is not recommended", metadata.name)
            self._url = location
            self._client = HttpClient(connect_timeout=self.request_timeout)
            try:
                self._keys = _index(await self._fetch())
            except CryptoProviderError as exc:
                raise ComponentConfigError(metadata.name, "jwks", f"failed to fetch JWKS: {exc}") from None
            return
        path = metadata.resolve_path(location)
        if _is_file(path):
            self._file = path
            try:
                self._load_file()
            except CryptoProviderError as exc:
                raise ComponentConfigError(metadata.name, "jwks", str(exc)) from None
            return
        try:
            self._keys = _index(parse_jwks(json.loads(_maybe_base64(location))))
        except (ValueError, InvalidKey):
            raise ComponentConfigError(
                metadata.name,
                "jwks",
                "failed to parse property 'location': not a URL, path to local file, "
                "or JSON value (optionally base64-encoded)",
            ) from None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _fetch(self) -> list[Key]:
        assert self._url is not None and self._client is not None
        parts = urlsplit(self._url)
        tls = parts.scheme == "https"
        port = parts.port or (443 if tls else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.hostname or ""
        try:
            resp = await self._client.request(
                "GET",
                host,
                port,
                target,
                [("accept", "application/json")],
                timeout=self.request_timeout,
                ssl=ssl.create_default_context() if tls else None,
                server_hostname=host if tls else None,
            )
        except (HttpClientError, OSError) as exc:
            raise CryptoProviderError(f"request failed: {type(exc).__name__}: {exc}") from None
        if resp.status != 200:
            raise CryptoProviderError(f"unexpected status code {resp.status}")
        try:
            return parse_jwks(json.loads(resp.body))
        except (ValueError, InvalidKey) as exc:
            raise CryptoProviderError(f"failed to parse JWKS: {exc}") from None
        finally:
            self._fetched_at = time.monotonic()

    def _load_file(self) -> None:
        assert self._file is not None
        try:
            mtime = self._file.stat().st_mtime
            data = self._file.read_bytes()
        except OSError as exc:
            raise CryptoProviderError(f"failed to read JWKS file: {exc.strerror}") from None
        try:
            self._keys = _index(parse_jwks(json.loads(data)))
        except (ValueError, InvalidKey) as exc:
            raise CryptoProviderError(f"failed to parse JWKS file: {exc}") from None
        self._file_mtime = mtime

    async def _refresh(self) -> None:
        if self._file is not None:
            try:
                changed = self._file.stat().st_mtime != self._file_mtime
            except OSError:
                changed = False
            if changed:
                try:
                    self._load_file()
                except CryptoProviderError as exc:
                    log.error("%s: error reading JWKS from disk: %s", self.metadata.name, exc)
        elif self._url is not None and time.monotonic() - self._fetched_at >= self.min_refresh_interval:
            try:
                self._keys = _index(await self._fetch())
            except CryptoProviderError as exc:
                log.warning("%s: error while refreshing the JWKS: %s", self.metadata.name, exc)

    async def retrieve_key(self, name: str) -> Key:
        await self._refresh()
        key = self._keys.get(name)
        if key is None:
            raise KeyNotFound()
        return key


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # e.g. inline JSON too long to be a file name
        return False


def _maybe_base64(text: str) -> bytes:
    # As kit's jwkscache: try base64 (standard alphabet, padding optional) before plain JSON.
    trimmed = text.rstrip("=")
    try:
        return base64.b64decode(trimmed + "=" * (-len(trimmed) % 4), validate=True)
    except (binascii.Error, ValueError):
        return text.encode()
