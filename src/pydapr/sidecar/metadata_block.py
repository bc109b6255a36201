"""Health, metadata and shutdown APIs (``/v1.0/healthz``, ``/v1.0/metadata``, ``/v1.0/shutdown``)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import grpc
import msgspec
from google.protobuf import empty_pb2

from pydapr import DAPR_COMPAT_VERSION, errors
from pydapr.api.grpc.wire import runtime
from pydapr.http.messages import Request, Response
from pydapr.sidecar.block import BuildingBlock

if TYPE_CHECKING:
    from pydapr.api.http.router import Router
    from pydapr.sidecar.runtime import Runtime


_SUBSCRIPTION_TYPES = dict(runtime.PubsubSubscriptionType.items())


def _go_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    return f"{seconds:g}s"


class MetadataBlock(BuildingBlock):
    name = "metadata"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        self.extended: dict[str, str] = {"daprRuntimeVersion": DAPR_COMPAT_VERSION}
        cli_pid = os.environ.get("DAPR_CLI_PID") or os.environ.get("PYDAPR_CLI_PID")
        if cli_pid:
            self.extended["cliPID"] = cli_pid
        app_command = os.environ.get("PYDAPR_APP_COMMAND")
        if app_command:
            self.extended["appCommand"] = app_command

    def register_http(self, router: Router) -> None:
        router.add("GET", "/v1.0/healthz", self._healthz)
        router.add("GET", "/v1.0/healthz/outbound", self._healthz_outbound)
        router.add("GET", "/v1.0/metadata", self._get_metadata)
        router.add("PUT", "/v1.0/metadata/{key}", self._put_metadata)
        router.add(("POST", "PUT"), "/v1.0/shutdown", self._shutdown)

    async def _healthz(self, req: Request, params: dict[str, str]) -> Response:
        if req.query:
            wanted = parse_qs(req.query).get("appid")
            if wanted and wanted[0] != self.runtime.app_id:
                raise errors.HEALTH_APPID_NOT_MATCH()
        if not self.runtime.ready:
            raise errors.HEALTH_NOT_READY()
        return Response.empty(204)

    async def _healthz_outbound(self, req: Request, params: dict[str, str]) -> Response:
        if not self.runtime.outbound_ready:
            raise errors.OUTBOUND_HEALTH_NOT_READY()
        return Response.empty(204)

    async def _get_metadata(self, req: Request, params: dict[str, str]) -> Response:
        return Response.json(msgspec.json.encode(self.describe()))

    async def _put_metadata(self, req: Request, params: dict[str, str]) -> Response:
        key = params["key"]
        if not key:
            raise errors.METADATA_KEY_INVALID()
        self.extended[key] = req.body.decode("utf-8", "replace")
        return Response.empty(204)

    async def _shutdown(self, req: Request, params: dict[str, str]) -> Response:
        self.runtime.request_shutdown()
        return Response.empty(204)

    def describe(self) -> dict[str, Any]:
        """The GET /v1.0/metadata document (Dapr's JSON field names)."""
        rt = self.runtime
        opts = rt.options
        doc: dict[str, Any] = {
            "id": rt.app_id,
            "runtimeVersion": DAPR_COMPAT_VERSION,
            "enabledFeatures": sorted(
                k for k, v in (rt.configuration.features if rt.configuration else {}).items() if v
            ),
            "components": [c.describe() for c in rt.components.all()],
            "httpEndpoints": [{"name": e.name} for e in rt.resources.http_endpoints],
            "extended": dict(self.extended),
            "subscriptions": [],
        }
        if opts.app_port:
            conn: dict[str, Any] = {
                "port": opts.app_port,
                "protocol": opts.app_protocol,
                "channelAddress": opts.app_channel_address,
            }
            if opts.app_max_concurrency > 0:
                conn["maxConcurrency"] = opts.app_max_concurrency
            if opts.enable_app_health_check:
                conn["health"] = {
                    "healthCheckPath": opts.app_health_check_path,
                    "healthProbeInterval": _go_duration(opts.app_health_probe_interval),
                    "healthProbeTimeout": _go_duration(opts.app_health_probe_timeout),
                    "healthThreshold": opts.app_health_threshold,
                }
            doc["appConnectionProperties"] = conn
        for block in rt.blocks:
            if block is not self:
                for key, value in block.metadata().items():
                    if isinstance(value, list) and isinstance(doc.get(key), list):
                        doc[key].extend(value)
                    else:
                        doc[key] = value
        return doc

    def grpc_handler(self) -> object:
        return _MetadataGrpc(self)


class _MetadataGrpc:
    def __init__(self, block: MetadataBlock) -> None:
        self.block = block

    async def GetMetadata(
        self, request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Any:
        doc = self.block.describe()
        resp = runtime.GetMetadataResponse(
            id=doc["id"],
            runtime_version=doc["runtimeVersion"],
            enabled_features=doc["enabledFeatures"],
            extended_metadata=doc["extended"],
            registered_components=[
                runtime.RegisteredComponents(
                    name=c["name"], type=c["type"], version=c["version"], capabilities=c["capabilities"]
                )
                for c in doc["components"]
            ],
            http_endpoints=[runtime.MetadataHTTPEndpoint(name=e["name"]) for e in doc["httpEndpoints"]],
        )
        conn = doc.get("appConnectionProperties")
        if conn:
            resp.app_connection_properties.port = conn["port"]
            resp.app_connection_properties.protocol = conn["protocol"]
            resp.app_connection_properties.channel_address = conn["channelAddress"]
            resp.app_connection_properties.max_concurrency = conn.get("maxConcurrency", 0)
            health = conn.get("health")
            if health:
                hp = resp.app_connection_properties.health
                hp.health_check_path = health["healthCheckPath"]
                hp.health_probe_interval = health["healthProbeInterval"]
                hp.health_probe_timeout = health["healthProbeTimeout"]
                hp.health_threshold = health["healthThreshold"]
        for sub in doc.get("subscriptions", []):
            entry = resp.subscriptions.add(
                pubsub_name=sub.get("pubsubname", ""),
                topic=sub.get("topic", ""),
                dead_letter_topic=sub.get("deadLetterTopic", ""),
                type=_SUBSCRIPTION_TYPES.get(str(sub.get("type", "")).upper(), 0),
            )
            entry.metadata.update(sub.get("metadata") or {})
            for rule in sub.get("rules", []):
                entry.rules.rules.add(match=rule.get("match", ""), path=rule.get("path", ""))
        return resp

    async def SetMetadata(
        self, request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> empty_pb2.Empty:
        if not request.key:
            raise errors.METADATA_KEY_INVALID()
        self.block.extended[request.key] = request.value
        return empty_pb2.Empty()

    async def Shutdown(
        self, request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> empty_pb2.Empty:
        self.block.runtime.request_shutdown()
        return empty_pb2.Empty()
