"""The actors building block in the sidecar: wires placement, the host, state, reminders and the
app transport into one ``ActorsAPI``, serves its HTTP routes and its internal-port calls.

Order, as daprd: the block is built with the other blocks; ``start()`` runs once the app's
``GET /dapr/config`` was read, reports the hosted types to placement and starts the idle scan.
No ``--placement-host-address``: every actor API answers ``ERR_ACTOR_NO_PLACEMENT``. Such a
sidecar (``pydapr init --slim``'s, most sidecars without actors) builds the host and the
``ActorsAPI`` -- and imports them, with periods, turns and peers -- on the first actor call: the
transports hold a ``pydapr.sidecar.lazy.OnFirstUse`` of it until then, so every answer is the one
the API gives. The actor state (the store taken in ``start()``) and the metrics are made at once.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any, cast

from pydapr.http.messages import Request, Response
from pydapr.security.spiffe import PLACEMENT_APP_ID, SCHEDULER_APP_ID
from pydapr.sidecar.block import BuildingBlock
from pydapr.sidecar.lazy import OnFirstUse

from .app_http import HttpActorTransport
from .contract import ActorKey, Placement, Reminders
from .hostconfig import parse_app_config
from .state import ActorState

if TYPE_CHECKING:
    from pydapr.api.http.router import Router
    from pydapr.observability.metrics.blocks.actors import ActorMetrics
    from pydapr.sidecar.runtime import Runtime

    from .api import ActorsAPI
    from .host import ActorHost

log = logging.getLogger("pydapr.actors")

ACTOR_STATE_TTL = "ActorStateTTL"


def placement_addresses(value: str | None) -> list[str]:
    """``--placement-host-address``: one address or a comma-separated list."""
    return [a.strip() for a in (value or "").split(",") if a.strip()]


class ActorsBlock(BuildingBlock):
    name = "actors"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        self.app_id = runtime.app_id
        self.namespace = runtime.namespace
        self.channel = runtime.app_channel
        self.addresses = placement_addresses(runtime.options.placement_host_address)
        self.scheduler = [
            a.strip() for a in (runtime.options.scheduler_host_address or "").split(",") if a.strip()
        ]
        self.placement: Placement | None = None
        self.reminders: Reminders | None = None
        self.metrics = actor_metrics(runtime)
        self._host: ActorHost | None = None
        self._api: ActorsAPI | None = None
        features = runtime.configuration.features if runtime.configuration else {}
        self.state = ActorState(
            app_id=self.app_id,
            store=None,  # the state block is built with this one: its store is taken in start()
            # An actor is active only on a host that exists; with a placement it exists from here on.
            is_active=self._is_active,
            ttl_enabled=bool(features.get(ACTOR_STATE_TTL)),
        )
        # What the transports call: the API itself with a placement, else built on its first call.
        self.api: ActorsAPI = self.built_api if self.addresses else cast("ActorsAPI", OnFirstUse(self._build))
        self._started = False
        self._grpc: Any = None  # the gRPC handler (pydapr.actors.grpc_api), its streams end on stop

    def _build(self) -> ActorsAPI:
        if self._api is None:
            from .api import ActorsAPI
            from .host import ActorHost
            from .peers import PeerClient

            runtime = self.runtime
            self._host = ActorHost(owns=self._owns, resiliency=runtime.resiliency, metrics=self.metrics)
            self.state.is_active = self._host.is_active
            self._api = ActorsAPI(
                app_id=self.app_id,
                host=self._host,
                state=self.state,
                placement=None,
                peers=PeerClient(runtime.peer_client, self.app_id, self.namespace, runtime.mtls),
                pipeline=runtime.pipeline,
                resiliency=runtime.resiliency,
                metrics=self.metrics,
            )
        return self._api

    @property
    def built_api(self) -> ActorsAPI:
        """The ``ActorsAPI`` itself, built now if it was not yet (the workflow engine stands on it)."""
        return self._build()

    @property
    def host(self) -> ActorHost:
        self._build()
        assert self._host is not None
        return self._host

    def _is_active(self, key: ActorKey) -> bool:
        return self._host is not None and self._host.is_active(key)

    def _owns(self, key: ActorKey) -> bool:
        if self.placement is None:
            return False
        location = self.placement.owner(key)
        return location is not None and location.local

    # --- wiring ---------------------------------------------------------------------------------

    def register_http(self, router: Router) -> None:
        from .http_api import register

        register(router, self.api)

    def grpc_handler(self) -> object | None:
        try:
            module = importlib.import_module("pydapr.actors.grpc_api")
        except ModuleNotFoundError as exc:
            if exc.name and "pydapr.actors.grpc_api".startswith(exc.name):
                return None
            raise
        protocol = self.channel.protocol if self.channel.configured else None
        self._grpc = module.ActorsGrpc(self.api, app_protocol=protocol)
        return self._grpc  # type: ignore[no-any-return]

    async def handle_internal(self, req: Request) -> Response:
        return await self.api.handle_internal(req)

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self.state.use_store(*_actor_store(self.runtime))
        if self.state.store is None:
            log.info("no actor state store: actor state calls answer ERR_ACTOR_RUNTIME_NOT_FOUND")
        elif self.state.problem:
            log.warning("state store %r: %s", self.state.store_name, self.state.problem)
        hosted, warnings = parse_app_config(self.runtime.app_config)
        for warning in warnings:
            log.warning("%s", warning)
        if not self.addresses:
            if hosted.entities:
                log.warning(
                    "the app hosts actor types %s but no --placement-host-address is set: "
                    "actor APIs answer ERR_ACTOR_NO_PLACEMENT",
                    ", ".join(sorted(hosted.entities)),
                )
            return
        self.placement = self._placement_client()
        self.api.placement = self.placement
        self.reminders = self._reminder_service()
        self.api.reminders = self.reminders
        transport = (
            HttpActorTransport(self.channel)
            if hosted.entities
            and self.channel.protocol
            in (
                "http",
                "https",
                "h2c",
            )
            else None
        )
        if hosted.entities and transport is None:
            log.warning(
                "actor types in /dapr/config of a %s app are ignored: gRPC apps host actors "
                "over the callback stream",
                self.channel.protocol,
            )
        self.placement.add_listener(self.host)
        self.api.host_types(hosted, transport)
        await self.placement.start()
        self.host.start()
        self._started = True
        if hosted.entities and transport is not None:
            log.info(
                "hosting actor types %s; placement at %s",
                ", ".join(sorted(hosted.entities)),
                ", ".join(self.addresses),
            )

    def _placement_client(self) -> Placement:
        from pydapr.placement.client import PlacementClient

        runtime = self.runtime
        address = f"{runtime.advertise_host}:{runtime.internal_port}"
        client: Placement = PlacementClient(
            self.addresses,
            app_id=self.app_id,
            namespace=self.namespace,
            host_address=address,
            open_channel=runtime.control_plane_channels(PLACEMENT_APP_ID),
        )
        return client

    def _reminder_service(self) -> Reminders | None:
        if not self.scheduler:
            self.api.reminders_problem = "no scheduler is configured (--scheduler-host-address)"
            return None
        try:
            module = importlib.import_module("pydapr.actors.reminders")
        except ModuleNotFoundError as exc:
            if exc.name and "pydapr.actors.reminders".startswith(exc.name):
                self.api.reminders_problem = "no scheduler: reminders are not available in this pydapr"
                return None
            raise
        service: Reminders = module.ReminderService(
            self.scheduler,
            self.namespace,
            self.app_id,
            self.runtime.control_plane_channels(SCHEDULER_APP_ID),
        )
        mtls = self.runtime.mtls
        if mtls is not None:
            mtls.on_rotate(lambda _: service.renew_channels())  # type: ignore[attr-defined]
        return service

    async def stop(self) -> None:
        if self._host is not None:
            await self._host.close()
        if self._grpc is not None:
            # As daprd: the callback streams end with the API, not after its graceful period.
            self._grpc.close()
        if self.reminders is not None:
            try:
                await self.reminders.close()
            except Exception:
                log.exception("closing the reminders client failed")
        if self.placement is not None:
            try:
                await self.placement.close()
            except Exception:
                log.exception("closing the placement client failed")

    # --- metadata -------------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        if not self.addresses:
            return {}
        counts = [{"type": t, "count": n} for t, n in sorted(self.host.counts().items())]
        if not self._started or self.placement is None:
            return {"actorRuntime": {"runtimeStatus": "INITIALIZING", "hostReady": False, "placement": ""}}
        connected = self.placement.connected
        return {
            "actors": counts,
            "actorRuntime": {
                "runtimeStatus": "RUNNING",
                "activeActors": counts,
                "hostReady": connected,
                "placement": "placement: connected" if connected else "placement: disconnected",
            },
        }


def actor_metrics(runtime: Runtime) -> ActorMetrics | None:
    """Dapr's actor metrics for this sidecar, when it serves metrics."""
    from pydapr.observability.metrics.blocks.sidecar import recording

    if not recording(runtime):
        return None
    from pydapr.observability.metrics.blocks.actors import ActorMetrics

    return ActorMetrics(runtime.app_id)


def _actor_store(runtime: Runtime) -> tuple[Any, str]:
    """The state store with ``actorStateStore: "true"`` (the state block checked there is one at most)."""
    state = next((b for b in runtime.blocks if b.name == "state"), None)
    api = getattr(state, "api", None)
    name = getattr(api, "actor_store_name", None)
    if api is None or not name:
        return None, ""
    return api.stores[name].store, name
