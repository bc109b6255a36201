"""The workflow building block: the engine on the actor runtime, the worker pool, and their APIs
(the durabletask ``TaskHubSidecarService`` and the Dapr gRPC workflow RPCs on the gRPC port, the
``/v1.0*/workflows`` HTTP routes).

As in daprd, workflows need the actor runtime: a placement, a scheduler and an actor state store.
Without them the APIs answer; calls that need the actors answer the actor runtime's error.

The engine (``pydapr.workflows.engine`` with its history, store and access modules) is imported
and built on first use: the first workflow call, or the first worker connecting; the APIs are
served from the start over a ``pydapr.sidecar.lazy.OnFirstUse`` of it. With WorkflowAccessPolicy
resources it is built at startup, as its gate guards the internal actors from the first peer call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from pydapr.sidecar.block import BuildingBlock
from pydapr.sidecar.lazy import OnFirstUse

from .workers import WorkerPool

if TYPE_CHECKING:
    from pydapr.api.http.router import Router
    from pydapr.observability.metrics.blocks.workflows import WorkflowMetrics
    from pydapr.sidecar.runtime import Runtime

    from .access import WorkflowAccess
    from .contract import Workflows
    from .engine import WorkflowEngine
    from .tracing import WorkflowTracing

log = logging.getLogger("pydapr.workflows")


class WorkflowsBlock(BuildingBlock):
    name = "workflows"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        self.pool = WorkerPool()
        self._engine: WorkflowEngine | None = None
        # Made now, whether or not the engine ever is: its metric families are served from the start.
        self._metrics = workflow_metrics(runtime)
        # What the APIs call; the engine behind it is built on the first call.
        self.workflows = cast("Workflows", OnFirstUse(lambda: self.engine))
        # The first worker connecting builds the engine too (it hosts the internal actor types).
        self.pool.add_listener(self)

    @property
    def engine(self) -> WorkflowEngine:
        # Built on first use: the actors block it stands on is built beside this one.
        if self._engine is None:
            actors: Any = next((b for b in self.runtime.blocks if b.name == "actors"), None)
            if actors is None:
                raise RuntimeError("the workflow block needs the actors block (pydapr.actors)")
            from .engine import WorkflowEngine

            self._engine = WorkflowEngine(
                app_id=self.runtime.app_id,
                namespace=self.runtime.namespace,
                actors=actors.built_api,
                state=actors.state,
                pool=self.pool,
                metrics=self._metrics,
                tracing=workflow_tracing(self.runtime),
                spec=config.workflow if (config := self.runtime.configuration) is not None else None,
                access=workflow_access(self.runtime, self._metrics),
            )
        return self._engine

    def on_workers(self, connected: int) -> None:
        """``WorkerPool``'s listener: an engine not built yet has nothing to undo when none is left."""
        if connected > 0 or self._engine is not None:
            self.engine.on_workers(connected)

    def register_http(self, router: Router) -> None:
        from .http_api import register

        if self.runtime.resources.workflow_access_policies:
            self.engine  # noqa: B018 - built now: its access gate applies from the first call
        register(router, self.workflows, self.runtime.app_id)

    def grpc_handler(self) -> object | None:
        from .grpc_service import DaprWorkflowApi

        api: object = DaprWorkflowApi(self.workflows, self.runtime.app_id)
        return api

    def grpc_services(self) -> list[Callable[[Any], None]]:
        from .grpc_service import task_hub_service

        return [task_hub_service(self.workflows, self.pool)]

    def metadata(self) -> dict[str, Any]:
        # daprd's metadata: the workers connected over GetWorkItems (left out over HTTP when none).
        connected = self.pool.connected
        return {"workflows": {"connectedWorkers": connected}} if connected else {}

    async def stop(self) -> None:
        self.pool.close()
        if self._engine is not None:
            await self._engine.close()


def workflow_metrics(runtime: Runtime) -> WorkflowMetrics | None:
    """Dapr's workflow metrics for this sidecar, when it serves metrics."""
    from pydapr.observability.metrics.blocks.sidecar import recording

    if not recording(runtime):
        return None
    from pydapr.observability.metrics.blocks.workflows import WorkflowMetrics

    return WorkflowMetrics(runtime.app_id, runtime.namespace)


def workflow_access(runtime: Runtime, metrics: WorkflowMetrics | None) -> WorkflowAccess:
    """The WorkflowAccessPolicy resources loaded for this app, compiled (none: all calls allowed)."""
    from .access import CompiledPolicies, WorkflowAccess

    loaded = runtime.resources.workflow_access_policies
    policies = CompiledPolicies.compile(loaded)
    if policies is not None:
        log.info("Loaded %d workflow access policy resource(s)", len(loaded))
    return WorkflowAccess(policies, app_id=runtime.app_id, namespace=runtime.namespace, metrics=metrics)


def workflow_tracing(runtime: Runtime) -> WorkflowTracing | None:
    """The workflow spans, made by the sidecar's tracer provider; None when tracing is off (the
    provider exists only when spans are sampled and exported somewhere)."""
    provider = runtime.tracing.provider
    if provider is None:
        return None
    from .tracing import WorkflowTracing

    return WorkflowTracing(provider.get_tracer("durabletask"))
