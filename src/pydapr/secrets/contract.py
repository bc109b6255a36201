"""What a secret store offers: one secret by name, or every secret it holds.

A secret is a map of string keys to string values; most stores hold one value per secret (the map
has the secret's own name as its only key), multi-valued stores hold several.
"""

from __future__ import annotations

from pydapr.components.base import Component

FEATURE_MULTIPLE_KEY_VALUES_PER_SECRET = "MULTIPLE_KEY_VALUES_PER_SECRET"


class SecretNotFound(LookupError):
    """The store has no secret of that name; the message names the secret, never a value."""

    def __init__(self, name: str) -> None:
        super().__init__(f"secret {name} not found")
        self.name = name


class SecretStore(Component):
    """Base of all secret stores. ``get_secret`` is also what component loading uses for secretKeyRef."""

    async def get_secret(self, key: str, metadata: dict[str, str]) -> dict[str, str]:
        raise NotImplementedError

    async def bulk_get_secret(self, metadata: dict[str, str]) -> dict[str, dict[str, str]]:
        raise NotImplementedError
