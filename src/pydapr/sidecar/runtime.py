"""The sidecar's runtime: builds everything in Dapr's startup order and tears it down in reverse.

Order (dapr/dapr pkg/runtime/runtime.go): configuration → resources → secret stores → other
components → API servers (outbound ready) → wait for the app port → ``GET /dapr/config`` →
building blocks start (subscriptions, input bindings, jobs) → ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import importlib
import logging
import os
from typing import Any

from pydapr.api.access import ApiAccess
from pydapr.api.api_logging import ApiLoggingSource
from pydapr.api.grpc.inbound import grpc_interceptors
from pydapr.api.grpc.server import start_grpc_server
from pydapr.api.http.cors import cors_middleware
from pydapr.api.http.dispatch import (
    Middleware,
    Routes,
    api_token_middleware,
    build_pipeline,
)
from pydapr.api.http.inbound import pipeline_middleware
from pydapr.api.http.router import Router
from pydapr.appchannel import AppChannel, create_app_channel
from pydapr.components.base import ComponentConfigError
from pydapr.http.client import HttpClient
from pydapr.http.multiplex_client import MultiplexClient
from pydapr.http.server import HttpServer
from pydapr.invoke.endpoints import Endpoint, resolve_endpoints
from pydapr.middleware.pipeline import app_http_pipeline, http_pipeline
from pydapr.nameresolution import NameResolver, create_resolver
from pydapr.nameresolution.base import Address, Registration
from pydapr.observability.metrics.lifecycle import Metrics, metric_spec, start_metrics
from pydapr.observability.tracing import Tracing, start_tracing
from pydapr.pipeline import Pipeline
from pydapr.pipeline.resiliency import ResiliencySource
from pydapr.resiliency import ResiliencyError, ResiliencyPolicies, compile_policies
from pydapr.resources import Configuration, ResourceError, Resources, load_configurations, load_resources
from pydapr.security import tokens
from pydapr.security.acl import AccessControl
from pydapr.security.mtls import ChannelFactory, Mtls, plain_channel
from pydapr.sidecar.app_health import AppHealthChecker
from pydapr.sidecar.block import BuildingBlock
from pydapr.sidecar.component_deny import allowed_components
from pydapr.sidecar.components import ComponentStartupError, ComponentStore
from pydapr.sidecar.internal import InternalListeners, PeerChannels
from pydapr.sidecar.options import SidecarOptions
from pydapr.sidecar.security import SecurityStartupError, access_controls, start_mtls
from pydapr.sidecar.unapplied import unapplied_settings

log = logging.getLogger("pydapr.runtime")

# Building blocks, in the order their start() runs. A block whose package is not installed is
# skipped; its APIs then answer ERR_API_UNIMPLEMENTED.
BLOCKS = (
    "pydapr.sidecar.metadata_block:MetadataBlock",
    "pydapr.invoke.block:InvokeBlock",
    "pydapr.secrets.block:SecretsBlock",
    "pydapr.state.block:StateBlock",
    "pydapr.configuration.block:ConfigurationBlock",
    "pydapr.lock.block:LockBlock",
    "pydapr.pubsub.block:PubSubBlock",  # Dapr reads /dapr/subscribe before probing input bindings
    "pydapr.bindings.block:BindingsBlock",
    "pydapr.actors.block:ActorsBlock",  # after state (the actor state store), before jobs, as daprd
    "pydapr.workflows.block:WorkflowsBlock",  # on the actor runtime
    "pydapr.jobs.block:JobsBlock",
    "pydapr.crypto.block:CryptoBlock",
    "pydapr.conversation.block:ConversationBlock",
    "pydapr.sidecar.unimplemented:UnimplementedBlock",
)


class StartupError(Exception):
    """Startup cannot go on; the message is the one line the user sees."""


def _block_classes() -> list[type[BuildingBlock]]:
    classes = []
    for target in BLOCKS:
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                log.debug("building block %s not available", module_name)
                continue
            raise
        classes.append(getattr(module, attr))
    return classes


class Runtime:
    def __init__(self, options: SidecarOptions) -> None:
        self.options = options
        self.app_id = options.app_id
        self.namespace = options.namespace
        self.ready = False
        self.outbound_ready = False
        self.resources = Resources([], [], [], [], [])
        self.configuration: Configuration | None = None
        # Every call's interceptors, by direction and target; sources are added in start().
        self.pipeline = Pipeline()
        self.components = ComponentStore(
            app_id=self.app_id, namespace=self.namespace, base_dir=options.base_dir, pipeline=self.pipeline
        )
        self.http_client = HttpClient()
        # Calls to other sidecars' internal ports: one multiplexed connection per peer.
        self.peer_client = MultiplexClient(self.http_client)
        # Rebuilt in start() once the middleware components (appHttpPipeline) are loaded.
        self.app_channel: AppChannel = create_app_channel(
            options, self.http_client, self.pipeline, self.app_id
        )
        self.app_config: dict[str, Any] = {}
        self.app_health = AppHealthChecker(self.app_channel, options)
        self.resolver: NameResolver = create_resolver(None, {})
        self.resiliency: ResiliencyPolicies = compile_policies([], app_id=self.app_id)
        self.blocks: list[BuildingBlock] = []
        self.http_endpoints: dict[str, Endpoint] = {}
        self.http_port = 0
        self.grpc_port = 0
        self.internal_port = 0
        self.internal_grpc_port = 0
        # Security (pydapr.sidecar.security): set in start() before any listener or block exists.
        self.mtls: Mtls | None = None
        self.access_control: AccessControl | None = None  # service invocation, on the internal port
        self.proxy_access_control: AccessControl | None = None  # gRPC proxying
        # Where other sidecars reach this one (registered for name resolution and placement).
        self.advertise_host = os.environ.get("DAPR_HOST_IP") or "127.0.0.1"
        self._http_servers: list[HttpServer] = []
        self._internal = InternalListeners(self)
        self._grpc_servers: list[Any] = []
        self._shutdown = asyncio.Event()
        self._app_task: asyncio.Task[None] | None = None
        self._started_blocks: list[BuildingBlock] = []
        self._peers = PeerChannels(None, self.namespace)
        self._api_token: str | None = None
        self.tracing = Tracing()
        self.metrics = Metrics()

    # --- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        opts = self.options
        try:  # first: a token file that gives no token stops startup before anything is loaded
            self._api_token = tokens.dapr_api_token()
            tokens.app_api_token()
        except tokens.TokenFileError as exc:
            raise StartupError(str(exc)) from None
        try:
            if opts.configs:
                self.configuration = load_configurations(list(opts.configs))
            self.resources = load_resources(
                list(opts.resources_paths), app_id=self.app_id, namespace=self.namespace
            )
        except ResourceError as exc:
            raise StartupError(str(exc)) from None
        try:
            # Resiliency metrics only when metrics are served (recording them costs per policy run).
            served = opts.enable_metrics and metric_spec(self.configuration).enabled
            self.resiliency = compile_policies(
                self.resources.resiliencies, app_id=self.app_id, metrics="sidecar" if served else None
            )
        except ResiliencyError as exc:
            raise StartupError(str(exc)) from None
        # Every source before the first chain is handed out (components keep theirs from load).
        # Tracing is outermost: the span covers the whole call, retries included, and the trace
        # context is set for everything inside it (log lines, outbound hops).
        try:
            self.tracing = start_tracing(self.configuration, self.app_id, self.namespace)
        except ValueError as exc:
            raise StartupError(str(exc)) from None
        for source in self.tracing.sources:
            self.pipeline.add(source)
        # Metrics next, outside Resiliency: one count per call as its caller sees it, retries inside.
        self.metrics = start_metrics(
            opts.enable_metrics,
            self.configuration,
            app_id=self.app_id,
            namespace=self.namespace,
            app_uses_grpc=opts.app_uses_grpc,
            health_check_path=opts.app_health_check_path,
            component_type=self._component_type,
            is_remote_app=self._is_remote_app,
        )
        if self.metrics.source is not None:
            self.pipeline.add(self.metrics.source)
        self.pipeline.add(ResiliencySource(self.resiliency, self._component_type))
        api_logging = self.configuration.api_logging if self.configuration else None
        # daprd: the flag when given, else the Configuration's logging.apiLogging.enabled.
        log_api = opts.enable_api_logging
        if log_api is None:
            log_api = api_logging is not None and bool(api_logging.enabled)
        if log_api:
            omit = api_logging is not None and api_logging.omit_health_checks
            obfuscate = api_logging is not None and api_logging.obfuscate_urls
            self.pipeline.add(ApiLoggingSource(omit_health_checks=omit, obfuscate_urls=obfuscate))
        for warning in unapplied_settings(opts, self.configuration, self.resources):
            log.warning("%s", warning)
        try:
            self.mtls = await start_mtls(opts, self.configuration)
            self.access_control, self.proxy_access_control = access_controls(
                self.configuration, app_is_http=not opts.app_uses_grpc
            )
        except (SecurityStartupError, ValueError) as exc:
            raise StartupError(str(exc)) from None
        if self.metrics.families is not None:
            self._record_security()
        self._peers = PeerChannels(self.mtls, self.namespace)
        nr = self.configuration.name_resolution if self.configuration else None
        try:
            self.resolver = create_resolver(
                nr.component if nr else None, dict(nr.configuration) if nr else {}
            )
        except ValueError as exc:
            where = self.configuration.source if self.configuration else opts.configs[-1]
            raise StartupError(f"{where}: {exc}") from None
        try:
            deny = self.configuration.components_deny if self.configuration else ()
            specs = allowed_components(self.resources.components, deny)
            try:
                await self.components.load_all(specs)
            finally:
                self._count_components(specs)
            self.http_endpoints = await resolve_endpoints(self.resources.http_endpoints, self.components)
        except (ComponentStartupError, ComponentConfigError) as exc:
            raise StartupError(str(exc)) from None
        try:
            app_middlewares = app_http_pipeline(self.configuration, self.components)
        except ValueError as exc:
            raise StartupError(str(exc)) from None
        self.app_channel = create_app_channel(
            opts, self.http_client, self.pipeline, self.app_id, http_middlewares=app_middlewares
        )
        self.app_health = AppHealthChecker(self.app_channel, opts)
        # Each block takes the parts of the runtime it uses (channel, components, pipeline ...).
        self.blocks = [cls(self) for cls in _block_classes()]
        await self._start_servers()
        await self.resolver.register(
            Registration(
                app_id=self.app_id,
                namespace=self.namespace,
                address=Address(
                    self.advertise_host,
                    self.internal_port,
                    self.grpc_port,
                    self.http_port,
                    self.internal_grpc_port,
                ),
                pid=os.getpid(),
            )
        )
        for warning in self.components.unread_metadata():
            log.warning("%s", warning)
        self.outbound_ready = True
        log.info(
            "dapr initialized. Status: Running. HTTP port %d, gRPC port %d, internal port %d, "
            "internal gRPC port %d, mTLS %s",
            self.http_port,
            self.grpc_port,
            self.internal_port,
            self.internal_grpc_port,
            f"on ({self.mtls.identity.identity})" if self.mtls is not None else "off",
        )
        self._app_task = asyncio.create_task(self._connect_app())

    async def _start_servers(self) -> None:
        opts = self.options
        access = ApiAccess.from_configuration(self.configuration)
        where = f"{self.configuration.source}" if self.configuration else "configuration"
        for problem in access.problems(where):
            log.warning("%s", problem)
        router = Router(serves=access.serves_route)
        for block in self.blocks:
            block.register_http(router)
        invoke = next((b for b in self.blocks if b.name == "invoke"), None)
        # The header-addressed invocation fallback is the invoke API too (daprd's IsFallback route).
        fallback = getattr(invoke, "invoke_fallback", None) if router.serves("/v1.0/invoke/") else None
        token = self._api_token
        middlewares: list[Middleware] = []
        cors = cors_middleware(opts.allowed_origins)
        if cors is not None:  # before the token check, as in daprd: preflights carry no token
            middlewares.append(cors)
        if token:
            middlewares.append(api_token_middleware(token))
        try:
            middlewares.extend(http_pipeline(self.configuration, self.components))
        except ValueError as exc:
            raise StartupError(str(exc)) from None
        # Last: the step into the pipeline (tracing, metrics, Resiliency, API logging).
        middlewares.append(pipeline_middleware(self.pipeline))
        dispatcher = build_pipeline(Routes(router, fallback), middlewares)
        uds = opts.unix_domain_socket
        try:
            if uds is not None:
                path = str(uds / f"dapr-http-{self.app_id}.socket")
                self._http_servers.append(
                    await HttpServer.start(dispatcher, unix_path=path, max_body_size=opts.max_body_size)
                )
            else:
                for host in opts.dapr_listen_addresses:
                    server = await HttpServer.start(
                        dispatcher, host=host, port=opts.dapr_http_port, max_body_size=opts.max_body_size
                    )
                    self._http_servers.append(server)
                    self.http_port = server.port
        except OSError as exc:
            raise StartupError(
                f"cannot listen on port {opts.dapr_http_port} for the Dapr HTTP API: {_bind_problem(exc)}"
            ) from None
        handlers = [h for h in (b.grpc_handler() for b in self.blocks) if h is not None]
        interceptors = grpc_interceptors(self.configuration, token, self.pipeline)
        extra_services = [add for b in self.blocks for add in b.grpc_services()]
        try:
            if uds is not None:
                server, _ = await start_grpc_server(
                    handlers,
                    host="",
                    port=0,
                    unix_path=str(uds / f"dapr-grpc-{self.app_id}.socket"),
                    channel_for=self._grpc_channel_for,
                    extra_services=extra_services,
                    interceptors=interceptors,
                    max_message_size=opts.max_body_size,
                )
                self._grpc_servers.append(server)
            else:
                for host in opts.dapr_listen_addresses:
                    server, bound = await start_grpc_server(
                        handlers,
                        host=host,
                        port=opts.dapr_grpc_port,
                        channel_for=self._grpc_channel_for,
                        extra_services=extra_services,
                        interceptors=interceptors,
                        max_message_size=opts.max_body_size,
                    )
                    self._grpc_servers.append(server)
                    self.grpc_port = bound
        except OSError as exc:
            raise StartupError(
                f"cannot listen on port {opts.dapr_grpc_port} for the Dapr gRPC API: {_bind_problem(exc)}"
            ) from None
        if self.metrics.enabled:
            host = opts.metrics_listen_address
            try:
                await self.metrics.serve(host, opts.metrics_port)
            except OSError as exc:
                raise StartupError(
                    f"cannot listen on {host or '0.0.0.0'} port {opts.metrics_port} for metrics "
                    f"(--metrics-port; --enable-metrics=false turns metrics off): {_bind_problem(exc)}"
                ) from None
        if invoke is not None:
            host = opts.dapr_internal_grpc_listen_address or (
                "0.0.0.0" if self.mtls is not None else "127.0.0.1"
            )
            try:
                await self._internal.start(
                    host, invoke, next((b for b in self.blocks if b.name == "actors"), None)
                )
            except OSError as exc:
                raise StartupError(
                    f"cannot listen on {host} (port {opts.dapr_internal_grpc_port or 'any'}) for "
                    f"sidecar-to-sidecar calls: {_bind_problem(exc)}"
                ) from None
            self.internal_port = self._internal.http_port
            self.internal_grpc_port = self._internal.grpc_port

    def _count_components(self, specs: list[Any]) -> None:
        """daprd's component metrics at init: loaded, initialized, failed (ignoreErrors or fatal)."""
        families = self.metrics.families
        if families is None:
            return
        loaded = {c.name for c in self.components.all()}
        for spec in specs:
            if spec.name in loaded:
                families.component_loaded.inc((self.app_id,))
                families.component_init.inc((self.app_id, spec.type))
            elif spec.ignore_errors:  # a fatal failure stops the sidecar before any scrape
                families.component_init_fail.inc((self.app_id, spec.type, "init", spec.name))

    def _is_remote_app(self, target: str) -> bool:
        """An invocation target served by another app's sidecar (not the own app, not a URL or
        HTTPEndpoint), where daprd counts service invocation metrics."""
        if target.startswith(("http://", "https://")) or target in self.http_endpoints:
            return False
        app_id, _, namespace = target.partition(".")
        return not (app_id == self.app_id and namespace in ("", self.namespace))

    def _record_security(self) -> None:
        """daprd's mTLS and access control metrics for this sidecar (it serves metrics)."""
        from pydapr.observability.metrics.blocks.security import watch_access_control, watch_identity
        from pydapr.observability.metrics.blocks.sidecar import recording

        if not recording(self):
            return
        if self.mtls is not None:
            assert self.metrics.families is not None
            self.metrics.families.mtls_init.inc((self.app_id,))
            watch_identity(self.mtls.identity, self.app_id)
        watch_access_control(self.access_control, self.proxy_access_control)

    def _component_type(self, name: str) -> str:
        """The type of the loaded component ``name`` (``state.redis``), for Resiliency's defaults."""
        for loaded in self.components.all():
            if loaded.name == name:
                return loaded.spec.type
        return ""

    async def _grpc_channel_for(self, app_id: str) -> tuple[Any, tuple[tuple[str, str], ...]]:
        """Where a proxied gRPC call for ``app_id`` goes: the own app, or the target's sidecar."""
        target_id, _, namespace = app_id.partition(".")
        if target_id == self.app_id and (not namespace or namespace == self.namespace):
            return self.app_channel.grpc_proxy()
        namespace = namespace or self.namespace
        address = await self.resolver.resolve(target_id, namespace)
        if not address.internal_grpc_port:
            raise LookupError(
                f"the sidecar of {target_id} does not take proxied gRPC calls (an older pydapr)"
            )
        return self._peers.get(address, target_id, namespace), ()

    def control_plane_channels(self, service_app_id: str) -> ChannelFactory:
        """How this sidecar opens channels to a control-plane service (mTLS when on)."""
        if self.mtls is None:
            return plain_channel
        return self.mtls.control_plane_channels(service_app_id)

    async def _connect_app(self) -> None:
        try:
            if self.app_channel.configured:
                log.info("waiting for the app on port %s", self.options.app_port)
                await self.app_channel.wait_until_reachable()
                log.info("app is reachable on port %s", self.options.app_port)
                await self._read_app_config()
                if self.options.enable_app_health_check:
                    self.app_health.start()
            for block in self.blocks:
                await block.start()
                self._started_blocks.append(block)
            self.ready = True
            log.info("sidecar ready: app id %s", self.app_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("connecting to the app failed; the sidecar stops")
            self.request_shutdown()

    async def _read_app_config(self) -> None:
        """``GET /dapr/config`` (gRPC apps have none: the channel answers {})."""
        self.app_config = await self.app_channel.config()

    def request_shutdown(self) -> None:
        self._shutdown.set()

    async def wait_for_shutdown(self) -> None:
        await self._shutdown.wait()

    async def stop(self) -> None:
        """Graceful shutdown: stop taking work, let in-flight requests finish, close components."""
        self.ready = False
        grace = self.options.dapr_graceful_shutdown_seconds
        if self._app_task is not None and not self._app_task.done():
            self._app_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._app_task
        await self.app_health.stop()
        with contextlib.suppress(Exception):
            await self.resolver.unregister()
        for block in reversed(self._started_blocks):
            try:
                await asyncio.wait_for(block.stop(), timeout=grace)
            except Exception:
                log.exception("stopping block %s failed", block.name)
        waits: list[Any] = [s.shutdown(grace) for s in self._http_servers]
        waits.append(self._internal.stop(grace))
        waits.extend(s.stop(grace) for s in self._grpc_servers)
        waits.append(self.metrics.stop(grace))
        await asyncio.gather(*waits, return_exceptions=True)
        self.outbound_ready = False
        await self.components.close_all()
        await self.app_channel.close()
        await self._peers.close()
        await self.peer_client.close()
        await self.http_client.close()
        if self.mtls is not None:
            await self.mtls.identity.stop()
        await self.tracing.shutdown()


def _bind_problem(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE or "address already in use" in str(exc):
        return "address already in use"
    return exc.strerror or str(exc)
