"""The workflow runtime's parts and what passes between them.

The workflow building block is built, as Dapr builds it (dapr/dapr pkg/actors/targets/workflow), on
the sidecar's actor runtime: each workflow instance is an actor of the internal type
``dapr.internal.<namespace>.<app-id>.workflow`` (its id is the instance id), each activity run an
actor of ``dapr.internal.<namespace>.<app-id>.activity``. Placement therefore gives every instance
exactly one owner among an app's replicas, reminders on the scheduler make timers and recovery
durable, and a workflow calls activities and child workflows of another app by calling that app's
internal actor types (cross-app workflows). Those types are hosted by a sidecar only while a
workflow worker of its app is connected (``GetWorkItems``), as in daprd.

Parts, each in its own module:

- ``workers.WorkerPool``: the app's workers connected over ``GetWorkItems``; hands them work items
  and matches their completions (``CompleteOrchestratorTask`` / ``CompleteWorkflowTask`` /
  ``CompleteActivityTask``) to the waiting engine.
- ``engine.WorkflowEngine``: the workflow and activity actors (history, inbox, timers, recovery)
  and the ``Workflows`` facade below.
- ``grpc_service``: the durabletask ``TaskHubSidecarService`` and the Dapr gRPC API's
  ``*WorkflowBeta1`` / ``*WorkflowAlpha1`` methods; ``http_api``: ``/v1.0/workflows/dapr/...``.

Messages are the durabletask protocol's (``pydapr.workflows._proto.durabletask_pb2``, imported as
``pb``); payloads (inputs, outputs, event data) are the JSON strings the SDKs send, never decoded.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import msgspec

from pydapr.workflows._proto import durabletask_pb2 as pb

if TYPE_CHECKING:
    from .rerun import RerunRequest

MAX_INSTANCE_ID_LENGTH = 64  # Dapr rejects longer instance ids over its workflow APIs


def workflow_actor_type(namespace: str, app_id: str) -> str:
    return f"dapr.internal.{namespace}.{app_id}.workflow"


def activity_actor_type(namespace: str, app_id: str) -> str:
    return f"dapr.internal.{namespace}.{app_id}.activity"


def retention_actor_type(namespace: str, app_id: str) -> str:
    """The type whose reminders purge finished instances (the state retention policy)."""
    return f"dapr.internal.{namespace}.{app_id}.retentioner"


class NoWorker(Exception):
    """No workflow worker of this app is connected (or it went away before answering): the work
    item is not done, and the engine tries again later."""


class WorkerPool(Protocol):
    """The app's workflow workers (``pydapr.workflows.workers``)."""

    @property
    def connected(self) -> int:
        """How many ``GetWorkItems`` streams are open now."""
        ...

    async def run_workflow(self, request: pb.WorkflowRequest, *, wait: float) -> pb.WorkflowResponse:
        """Sends ``request`` to one connected worker and returns its answer. Waits up to ``wait``
        seconds for a worker to connect; raises ``NoWorker`` when none did, or when the worker's
        stream ended before it answered."""
        ...

    async def run_activity(self, request: pb.ActivityRequest, *, wait: float) -> pb.ActivityResponse:
        """As ``run_workflow``, for one activity execution (which may take as long as it takes)."""
        ...


class WorkersListener(Protocol):
    """Told when the first worker connects and when the last one goes (the engine then hosts or
    stops hosting the internal actor types)."""

    def on_workers(self, connected: int) -> None: ...


class StartRequest(msgspec.Struct, frozen=True):
    """A workflow to schedule. ``instance_id`` empty: the engine makes one (a UUID, as the SDKs)."""

    name: str
    instance_id: str = ""
    input: str | None = None
    version: str | None = None
    scheduled_start: datetime | None = None
    tags: Mapping[str, str] = msgspec.field(default_factory=dict)
    trace_parent: str = ""
    trace_state: str | None = None
    app: str | None = None  # the app whose workflow it is (cross-app operations); None: this one


class Workflows(Protocol):
    """The facade the public APIs call (``engine.WorkflowEngine``). Each method raises
    ``pydapr.errors.DaprError`` with Dapr's code (``pydapr.workflows.errors``) on bad input or
    failure; an instance id nobody knows is ``errors.INSTANCE_NOT_FOUND``.

    ``app`` names the app whose instance it is (cross-app operations: that app's workflow actor
    type, through placement); None or this app's id: this app's. An id with characters that would
    change the actor type's segments is ``errors.APP_ID_INVALID``."""

    async def start(self, request: StartRequest) -> str:
        """Schedules a new instance and returns its id. An instance of that id that is still
        running: ``errors.ALREADY_EXISTS``; one that finished is replaced, as in daprd."""
        ...

    async def get(
        self, instance_id: str, *, payloads: bool = True, app: str | None = None
    ) -> pb.WorkflowState | None:
        """The instance's state (None: no such instance). ``payloads`` False leaves out input,
        output and custom status (the SDKs' ``fetch_payloads``)."""
        ...

    async def wait(
        self,
        instance_id: str,
        *,
        completion: bool,
        payloads: bool = True,
        timeout: float | None = None,
        app: str | None = None,
    ) -> pb.WorkflowState | None:
        """Returns once the instance has started (``completion`` False: it is no longer pending)
        or reached a terminal status (``completion`` True). ``timeout`` None waits for ever; on
        timeout raises ``TimeoutError``. None: no such instance."""
        ...

    async def raise_event(
        self, instance_id: str, name: str, data: str | None, *, app: str | None = None
    ) -> None: ...

    async def terminate(
        self, instance_id: str, output: str | None = None, *, recursive: bool = True, app: str | None = None
    ) -> None:
        """Terminating a finished instance does nothing, as in daprd."""
        ...

    async def suspend(
        self, instance_id: str, reason: str | None = None, *, app: str | None = None
    ) -> None: ...

    async def resume(
        self, instance_id: str, reason: str | None = None, *, app: str | None = None
    ) -> None: ...

    async def purge(
        self, instance_id: str, *, recursive: bool = True, force: bool = False, app: str | None = None
    ) -> int:
        """Deletes a finished instance's state (and its children's with ``recursive``); returns how
        many instances were deleted. A running instance: ``errors.PURGE`` unless ``force``."""
        ...

    async def history(self, instance_id: str) -> list[pb.HistoryEvent] | None: ...

    async def rerun(self, request: RerunRequest, *, app: str | None = None) -> str:
        """Starts ``request.new_instance_id`` from a finished instance's history up to one event
        (``pydapr.workflows.rerun``); returns the new id. The source is left as it is."""
        ...

    async def list_instance_ids(
        self, token: str | None, page_size: int | None
    ) -> tuple[list[str], str | None]:
        """This app's instance ids, a page at a time (the next page's token, None on the last)."""
        ...
