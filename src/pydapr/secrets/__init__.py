"""The secrets building block: the API both transports call, scopes, and the secret stores."""

from __future__ import annotations

# Dapr component type and version -> "module:Class", imported only when a component of that type loads.
REGISTRY: dict[tuple[str, str], str] = {
    ("secretstores.local.file", "v1"): "pydapr.secrets.local_file:LocalFileSecretStore",
    ("secretstores.local.env", "v1"): "pydapr.secrets.local_env:LocalEnvSecretStore",
}
