"""``GetSecret`` and ``GetBulkSecret`` over ``SecretsAPI``."""

from __future__ import annotations

from typing import Any

from dapr.proto.runtime.v1 import secret_pb2

from pydapr.secrets.api import SecretsAPI


class SecretsGrpc:
    def __init__(self, api: SecretsAPI) -> None:
        self.api = api

    async def GetSecret(self, request: Any, context: Any) -> secret_pb2.GetSecretResponse:
        data = await self.api.get(request.store_name, request.key, dict(request.metadata))
        return secret_pb2.GetSecretResponse(data=data)

    async def GetBulkSecret(self, request: Any, context: Any) -> secret_pb2.GetBulkSecretResponse:
        data = await self.api.bulk_get(request.store_name, dict(request.metadata))
        return secret_pb2.GetBulkSecretResponse(
            data={key: secret_pb2.SecretResponse(secrets=values) for key, values in data.items()}
        )
