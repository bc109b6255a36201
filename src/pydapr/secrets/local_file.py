"""``secretstores.local.file``: secrets from a JSON file, nested objects flattened with a separator.

Metadata (components-contrib secretstores/local/file): ``secretsFile`` (required; relative to the
sidecar's working directory), ``nestedSeparator`` (default ``:``), ``multiValued`` (default false:
every flattened leaf is a secret of its own; true: every top-level key is a secret whose value is
the flattened map below it).
"""

from __future__ import annotations

from typing import Any

import msgspec

from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.secrets.contract import FEATURE_MULTIPLE_KEY_VALUES_PER_SECRET, SecretNotFound, SecretStore


def _scalar(value: Any) -> str:
    # Dapr formats leaves with Go's %s, which prints numbers as "%!s(float64=5)"; the JSON text
    # is what users mean, so numbers and booleans keep their JSON spelling and null is empty.
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return msgspec.json.encode(value).decode()


def flatten(
    value: Any, separator: str, prefix: str = "", out: dict[str, str] | None = None
) -> dict[str, str]:
    """Leaves of a JSON value keyed by their path; array items by index. Duplicate paths are refused."""
    out = {} if out is None else out
    if isinstance(value, dict):
        items: list[tuple[str, Any]] = list(value.items())
    elif isinstance(value, list):
        items = [(str(i), v) for i, v in enumerate(value)]
    else:
        if prefix in out:
            raise ValueError(f"duplicate key {prefix!r} after flattening")
        out[prefix] = _scalar(value)
        return out
    for key, child in items:
        flatten(child, separator, f"{prefix}{separator}{key}" if prefix else key, out)
    return out


class LocalFileSecretStore(SecretStore):
    def __init__(self) -> None:
        self._secrets: dict[str, dict[str, str]] = {}
        self._multi = False

    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        path_text = metadata.get("secretsFile")
        if not path_text:
            raise ComponentConfigError(
                metadata.name, "secretsFile", "is required (missing local secrets file)"
            )
        path = metadata.resolve_path(path_text)
        separator = metadata.get("nestedSeparator") or ":"
        self._multi = metadata.get_bool("multiValued", False)
        try:
            # Read once at startup, before the sidecar serves anything: a small local file.
            raw = path.read_bytes()
        except OSError as exc:
            raise ComponentConfigError(
                metadata.name, "secretsFile", f"cannot read {path}: {exc.strerror or exc}"
            ) from None
        try:
            document = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            # The decoder's message gives a position, never the file's content.
            raise ComponentConfigError(
                metadata.name, "secretsFile", f"{path} is not valid JSON: {exc}"
            ) from None
        if not isinstance(document, dict):
            raise ComponentConfigError(metadata.name, "secretsFile", f"{path} must hold a JSON object")
        try:
            if self._multi:
                for key, value in document.items():
                    # As in Dapr, only strings and objects are secrets at the top level.
                    if isinstance(value, str):
                        self._secrets[key] = {key: value}
                    elif isinstance(value, dict):
                        self._secrets[key] = flatten(value, separator)
            else:
                self._secrets = {k: {k: v} for k, v in flatten(document, separator).items()}
        except ValueError as exc:
            raise ComponentConfigError(metadata.name, "secretsFile", f"{path}: {exc}") from None

    def features(self) -> frozenset[str]:
        return frozenset({FEATURE_MULTIPLE_KEY_VALUES_PER_SECRET}) if self._multi else frozenset()

    async def get_secret(self, key: str, metadata: dict[str, str]) -> dict[str, str]:
        secret = self._secrets.get(key)
        if secret is None:
            raise SecretNotFound(key)
        return dict(secret)

    async def bulk_get_secret(self, metadata: dict[str, str]) -> dict[str, dict[str, str]]:
        return {k: dict(v) for k, v in self._secrets.items()}
