"""``secretstores.local.env``: secrets from the sidecar's environment variables.

Metadata: ``prefix`` (optional): only variables starting with it are read, and secret names are
given without it. As in Dapr, ``APP_API_TOKEN`` and ``DAPR_*`` are never readable (nor pydapr's own
``PYDAPR_*``), and a variable that is not set reads as an empty value.
"""

from __future__ import annotations

import logging
import os

from pydapr.components.base import ComponentMetadata
from pydapr.secrets.contract import SecretStore

log = logging.getLogger("pydapr.secrets")

_FORBIDDEN_PREFIXES = ("DAPR_", "PYDAPR_")


def _allowed(name: str) -> bool:
    upper = name.upper()
    return upper != "APP_API_TOKEN" and not upper.startswith(_FORBIDDEN_PREFIXES)


class LocalEnvSecretStore(SecretStore):
    def __init__(self) -> None:
        self._prefix = ""

    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        self._prefix = metadata.get("prefix") or ""

    async def get_secret(self, key: str, metadata: dict[str, str]) -> dict[str, str]:
        name = self._prefix + key
        if not _allowed(name):
            log.warning("access to env var %s is forbidden", key)
            return {key: ""}
        return {key: os.environ.get(name, "")}

    async def bulk_get_secret(self, metadata: dict[str, str]) -> dict[str, dict[str, str]]:
        prefix = self._prefix
        out: dict[str, dict[str, str]] = {}
        for name, value in os.environ.items():
            if prefix and (len(name) <= len(prefix) or not name.startswith(prefix)):
                continue
            if not _allowed(name):
                continue
            key = name[len(prefix) :]
            out[key] = {key: value}
        return out
