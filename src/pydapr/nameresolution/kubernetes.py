"""Kubernetes DNS: ``<app-id>-dapr.<namespace>.svc.<cluster-domain>``, as Dapr's resolver builds it.

Each app's sidecar is fronted by a headless Service named ``<app-id>-dapr`` exposing the internal
and gRPC ports; DNS picks the pod. No registration is needed: Kubernetes does it.
"""

from __future__ import annotations

from typing import Any

from pydapr.nameresolution.base import Address, Registration


class KubernetesDNS:
    def __init__(self, configuration: dict[str, Any]) -> None:
        self.cluster_domain = str(configuration.get("clusterDomain", "cluster.local"))
        self.internal_port = int(configuration.get("internalPort", 50002))
        self.grpc_port = int(configuration.get("grpcPort", 50001))
        self.internal_grpc_port = int(configuration.get("internalGrpcPort", 50003))

    async def register(self, registration: Registration) -> None:
        return None

    async def unregister(self) -> None:
        return None

    async def resolve(self, app_id: str, namespace: str) -> Address:
        host = f"{app_id}-dapr.{namespace or 'default'}.svc.{self.cluster_domain}"
        return Address(
            host=host,
            internal_port=self.internal_port,
            grpc_port=self.grpc_port,
            internal_grpc_port=self.internal_grpc_port,
        )

    def forget(self, app_id: str, namespace: str, address: Address) -> None:
        return None
