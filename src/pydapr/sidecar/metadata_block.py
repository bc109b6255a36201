"""Health, metadata and shutdown APIs (``/v1.0/healthz``, ``/v1.0/metadata``, ``/v1.0/shutdown``).

The metadata document is built once (``describe``) and written as daprd writes it: over HTTP with
daprd's Go structs (pkg/api/http/metadata.go: empty fields omitted, ``appConnectionProperties`` and
``actorRuntime`` always there), over gRPC as ``GetMetadataResponse``. Component capabilities are
computed as daprd's ``getComponentsCapabilitesMap``: the component's features in contrib order,
``ACTOR`` for every state store with ETAG and TRANSACTIONAL, ``INPUT_BINDING``/``OUTPUT_BINDING``
for bindings by direction, nothing for the other families.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import msgspec
from google.protobuf import empty_pb2

from pydapr import DAPR_COMPAT_VERSION, errors
from pydapr.api.grpc.wire import runtime
from pydapr.api.http import openapi
from pydapr.http.messages import Request, Response
from pydapr.sidecar.block import BuildingBlock

if TYPE_CHECKING:
    import grpc

    from pydapr.api.http.router import Router
    from pydapr.sidecar.components import LoadedComponent
    from pydapr.sidecar.runtime import Runtime


_SUBSCRIPTION_TYPES = dict(runtime.PubsubSubscriptionType.items())


# Feature order as contrib's components declare them (state/feature.go, pubsub/feature.go).
_FEATURE_ORDER: dict[str, tuple[str, ...]] = {
    "state": (
        "ETAG",
        "TRANSACTIONAL",
        "TTL",
        "QUERY_API",
        "DELETE_WITH_PREFIX",
        "PARTITION_KEY",
        "KEYS_LIKE",
    ),
    "pubsub": ("MESSAGE_TTL", "SUBSCRIBE_WILDCARDS", "BULK_PUBSUB", "BULK_SUBSCRIBE_IMMEDIATE"),
}
_FEATURED_FAMILIES = frozenset({"state", "pubsub", "secretstores"})
# What daprd reports for its actor runtime when no placement service is configured.
_ACTORS_DISABLED = {"runtimeStatus": "DISABLED", "hostReady": False, "placement": "placement: disconnected"}


def go_duration(seconds: float) -> str:
    """``seconds`` as Go's ``time.Duration.String`` writes it: ``500ms``, ``5s``, ``1m30s``."""
    ns = round(seconds * 1e9)
    sign, ns = ("-" if ns < 0 else ""), abs(ns)
    if ns == 0:
        return "0s"
    if ns < 1_000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{_decimal(ns, 1_000)}µs"
    if ns < 1_000_000_000:
        return f"{sign}{_decimal(ns, 1_000_000)}ms"
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    secs = _decimal(rest, 1_000_000_000) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}"
    return f"{sign}{minutes}m{secs}" if minutes else sign + secs


def _decimal(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    if not frac:
        return str(whole)
    return f"{whole}." + str(frac).rjust(len(str(unit)) - 1, "0").rstrip("0")


def capabilities(loaded: LoadedComponent) -> list[str]:
    """A component's ``capabilities`` as daprd computes them."""
    instance = loaded.instance
    family = loaded.family
    if family == "bindings":
        from pydapr.bindings.block import directions
        from pydapr.bindings.contract import InputBinding, OutputBinding

        wanted = directions(loaded.metadata)
        caps = []
        if isinstance(instance, InputBinding) and wanted.get("input", True):
            caps.append("INPUT_BINDING")
        if isinstance(instance, OutputBinding) and wanted.get("output", True):
            caps.append("OUTPUT_BINDING")
        return caps
    if family not in _FEATURED_FAMILIES:
        return []
    features = instance.features()
    order = _FEATURE_ORDER.get(family, ())
    caps = [f for f in order if f in features] + sorted(features.difference(order))
    if family == "state" and "ETAG" in features and "TRANSACTIONAL" in features:
        caps.append("ACTOR")
    return caps


def _without_empty(doc: dict[str, Any], keep: tuple[str, ...] = ()) -> dict[str, Any]:
    """Go's ``omitempty``: fields holding "", 0, false, an empty list or map, or null are left out."""
    return {k: v for k, v in doc.items() if v or k in keep}


def http_document(doc: dict[str, Any]) -> dict[str, Any]:
    """``describe()``'s document as daprd's metadataResponse struct encodes it."""
    out = _without_empty(doc, keep=("appConnectionProperties", "actorRuntime"))
    if "components" in out:
        out["components"] = [_without_empty(c) for c in out["components"]]
    if "subscriptions" in out:
        subs = []
        for sub in out["subscriptions"]:
            entry = _without_empty(sub, keep=("pubsubname", "topic", "deadLetterTopic", "type"))
            if "rules" in entry:
                entry["rules"] = [_without_empty(r) for r in entry["rules"]]
            subs.append(entry)
        out["subscriptions"] = subs
    conn = _without_empty(out["appConnectionProperties"])
    if "health" in conn:
        conn["health"] = _without_empty(conn["health"])
    out["appConnectionProperties"] = conn
    out["actorRuntime"] = _without_empty(out["actorRuntime"], keep=("runtimeStatus", "hostReady"))
    return out


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
        router.add("GET", openapi.ROUTE, self._openapi)

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
        return Response.json(msgspec.json.encode(http_document(self.describe())))

    async def _put_metadata(self, req: Request, params: dict[str, str]) -> Response:
        key = params["key"]
        if not key:
            raise errors.METADATA_KEY_INVALID()
        self.extended[key] = req.body.decode("utf-8", "replace")
        return Response.empty(204)

    async def _openapi(self, req: Request, params: dict[str, str]) -> Response:
        return Response.json(openapi.document_json())

    async def _shutdown(self, req: Request, params: dict[str, str]) -> Response:
        self.runtime.request_shutdown()
        return Response.empty(204)

    def describe(self) -> dict[str, Any]:
        """The metadata document with every field (Dapr's JSON names); ``http_document`` drops the
        empty ones as daprd's HTTP API does."""
        rt = self.runtime
        opts = rt.options
        doc: dict[str, Any] = {
            "id": rt.app_id,
            "runtimeVersion": DAPR_COMPAT_VERSION,
            "enabledFeatures": sorted(
                k for k, v in (rt.configuration.features if rt.configuration else {}).items() if v
            ),
            "actors": [],
            "components": [
                {
                    "name": c.spec.name,
                    "type": c.spec.type,
                    "version": c.spec.version,
                    "capabilities": capabilities(c),
                }
                for c in rt.components.all()
            ],
            "extended": dict(self.extended),
            "subscriptions": [],
            "httpEndpoints": [{"name": e.name} for e in rt.resources.http_endpoints],
            "actorRuntime": dict(_ACTORS_DISABLED),
            # daprd 1.18 lists the loaded WorkflowAccessPolicy and Resiliency resources by name.
            "workflowAccessPolicies": [{"name": p.name} for p in rt.resources.workflow_access_policies],
            "resiliencies": [{"name": r.name} for r in rt.resources.resiliencies],
        }
        # daprd reports the app channel even without an app port (then the port is left out).
        conn: dict[str, Any] = {
            "port": opts.app_port or 0,
            "protocol": opts.app_protocol,
            "channelAddress": opts.app_channel_address,
            "maxConcurrency": opts.app_max_concurrency,
        }
        if opts.enable_app_health_check:
            conn["health"] = {
                "healthCheckPath": opts.app_health_check_path
                if opts.app_protocol in ("http", "https", "h2c")
                else "",
                "healthProbeInterval": go_duration(opts.app_health_probe_interval),
                "healthProbeTimeout": go_duration(opts.app_health_probe_timeout),
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

    async def GetMetadata(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
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
        # Fields of newer SDK releases' messages (1.18+), filled when the installed ones have them.
        fields = resp.DESCRIPTOR.fields_by_name
        if "workflow_access_policies" in fields:
            for policy in doc["workflowAccessPolicies"]:
                resp.workflow_access_policies.add(name=policy["name"])
        if "resiliencies" in fields:
            for resiliency in doc["resiliencies"]:
                resp.resiliencies.add(name=resiliency["name"])
        workflows = doc.get("workflows")
        if workflows and "workflows" in fields:
            resp.workflows.connected_workers = workflows["connectedWorkers"]
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
        actors = doc["actorRuntime"]
        resp.actor_runtime.runtime_status = runtime.ActorRuntime.ActorRuntimeStatus.Value(
            actors.get("runtimeStatus", "DISABLED")
        )
        resp.actor_runtime.host_ready = bool(actors.get("hostReady"))
        resp.actor_runtime.placement = actors.get("placement", "")
        for count in actors.get("activeActors") or []:
            resp.actor_runtime.active_actors.add(type=count["type"], count=count["count"])
        for count in doc.get("actors") or []:
            resp.active_actors_count.add(type=count["type"], count=count["count"])
        scheduler = doc.get("scheduler")
        if scheduler:
            resp.scheduler.connected_addresses.extend(scheduler.get("connected_addresses", []))
        return resp

    async def SetMetadata(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> empty_pb2.Empty:
        if request.key:  # daprd ignores an empty key and answers success
            self.block.extended[request.key] = request.value
        return empty_pb2.Empty()

    async def Shutdown(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> empty_pb2.Empty:
        self.block.runtime.request_shutdown()
        return empty_pb2.Empty()
