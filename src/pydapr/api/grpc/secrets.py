"""``GetSecret`` and ``GetBulkSecret`` over ``SecretsAPI``."""

from __future__ import annotations

from typing import Any

from pydapr.api.grpc.wire import runtime
from pydapr.secrets.api import SecretsAPI


class SecretsGrpc:
    def __init__(self, api: SecretsAPI) -> None:
        self.api = api

    async def GetSecret(self, request: Any, context: Any) -> Any:
        data = await self.api.get(request.store_name, request.key, dict(request.metadata))
        return runtime.GetSecretResponse(data=data)

    async def GetBulkSecret(self, request: Any, context: Any) -> Any:
        data = await self.api.bulk_get(request.store_name, dict(request.metadata))
        return runtime.GetBulkSecretResponse(
            data={key: runtime.SecretResponse(secrets=values) for key, values in data.items()}
        )
