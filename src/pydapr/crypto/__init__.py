"""The cryptography building block: the ``dapr.io/enc/v1`` streaming API, the subtle APIs, and the
crypto providers (keys in a local folder, keys in a JWKS)."""

from __future__ import annotations

# Dapr component type and version -> "module:Class", imported only when a component of that type
# loads (dapr/dapr cmd/daprd/components/crypto_*.go register these names and no aliases).
REGISTRY: dict[tuple[str, str], str] = {
    ("crypto.dapr.localstorage", "v1"): "pydapr.crypto.localstorage:LocalStorageCrypto",
    ("crypto.dapr.jwks", "v1"): "pydapr.crypto.jwks:JWKSCrypto",
}
