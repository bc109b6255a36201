"""The sidecar's channel to its own app: one interface, an HTTP and a gRPC implementation.

Every call to the app goes through an ``AppChannel`` method, and every method runs its call with
``_call``: the call goes through ``pipeline.chain(Direction.OUTBOUND_APP, app_id)`` (one ``Call`` per
call to the app, ``operation`` = the path or RPC), then holds one ``--app-max-concurrency`` slot
while it runs. The app API token (``APP_API_TOKEN`` or ``APP_API_TOKEN_FILE``, pydapr.security.tokens)
is read here once; each implementation puts it on every call to the app (an HTTP header, gRPC
metadata), replacing any ``dapr-api-token`` a forwarded call carried, as daprd's channels.
Blocks only call these methods: none of them knows which protocol the app speaks.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import enum
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydapr.http.messages import Headers, Response
from pydapr.pipeline import JOB_OPERATIONS, JOB_TRIGGER, Call, Direction, Pipeline
from pydapr.resiliency import NOOP, Policy
from pydapr.security import tokens
from pydapr.sidecar.options import SidecarOptions

if TYPE_CHECKING:
    import grpc
    from google.protobuf.any_pb2 import Any as AnyPb

    from pydapr.bindings.contract import ReadEvent
    from pydapr.pubsub.bulk import BatchEntry
    from pydapr.pubsub.delivery import Outcome
    from pydapr.pubsub.subscriptions import TopicSubscription

T = TypeVar("T")

APP_API_TOKEN_HEADER = "dapr-api-token"
JOB_TRIGGER_TIMEOUT = 30.0  # seconds an app has to take a job trigger


class JobTrigger(enum.Enum):
    """What became of a job trigger sent to the app."""

    TAKEN = "taken"
    # 404 / NOT_FOUND: the app has no handler. daprd ends the trigger (nothing to retry) but counts
    # it as a failed trigger (scheduler/internal/cluster/streamer.go invokeApp).
    NO_HANDLER = "no handler"
    FAILED = "failed"  # the scheduler applies the job's failure policy

    @property
    def done(self) -> bool:
        return self is not JobTrigger.FAILED


@dataclass(frozen=True, slots=True)
class BindingReply:
    """The app's answer to one input-binding event.

    ``status`` is the HTTP status (gRPC apps: 200 once the RPC returned); ``to`` and ``parallel``
    are a gRPC app's ``BindingEventResponse.to`` / ``concurrency == PARALLEL`` (HTTP apps: none).
    """

    status: int
    data: bytes
    to: tuple[str, ...] = ()
    parallel: bool = False


class AppChannel(abc.ABC):
    """What the building blocks may ask of the app. Build with ``create_app_channel``."""

    protocol: str = ""

    def __init__(self, options: SidecarOptions, pipeline: Pipeline, app_id: str) -> None:
        self.options = options
        self.host = options.app_channel_address
        self.port = options.app_port
        self.app_id = app_id
        self._pipeline = pipeline
        self._token = tokens.app_api_token()  # raises TokenFileError: a startup error
        limit = options.app_max_concurrency
        self._limit = asyncio.Semaphore(limit) if limit > 0 else None
        self._grpc: grpc.aio.Channel | None = None

    # --- common ---------------------------------------------------------------------------------

    @property
    def configured(self) -> bool:
        return self.port is not None and self.port > 0

    async def wait_until_reachable(self, poll: float = 0.1) -> None:
        """Dial the app port until it accepts a connection (Dapr dials every 100 ms, forever)."""
        assert self.port is not None
        while True:
            try:
                _, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                await asyncio.sleep(poll)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Holds one of the app's ``--app-max-concurrency`` slots for the duration of a call."""
        if self._limit is None:
            yield
            return
        async with self._limit:
            yield

    def _call(
        self,
        operation: str,
        send: Callable[[], Awaitable[T]],
        *,
        slot: bool = True,
        size: int = 0,
        verb: str = "",
        message: Any = None,
    ) -> Awaitable[T]:
        """Run one call to the app: through the OUTBOUND_APP chain, then in a concurrency slot.

        ``slot=False`` is for the sidecar's own calls (health probe, ``GET /dapr/config``): daprd sends
        them outside ``--app-max-concurrency``, so a saturated app still answers its probes.
        ``size`` is the request body's and ``verb`` the HTTP method, for daprd's client metrics; a
        gRPC call gives its request ``message`` instead, sized only if metrics ask. Not a coroutine:
        the chain's (or the attempt's) awaitable is the call's."""
        limit = self._limit if slot else None
        if limit is None:
            attempt = send
        else:

            async def attempt() -> T:
                async with limit:
                    return await send()

        target = JOB_TRIGGER if operation.startswith(JOB_OPERATIONS) else self.app_id
        chain = self._pipeline.chain(Direction.OUTBOUND_APP, target)
        if chain.empty:
            return attempt()
        call = Call(Direction.OUTBOUND_APP, target, operation, request_size=size, verb=verb, request=message)
        return chain.run(call, attempt)

    def grpc_channel(self) -> grpc.aio.Channel:
        """One shared gRPC channel to the app (the gRPC callbacks, and the gRPC proxy)."""
        if self._grpc is None:
            import grpc

            target = f"{self.host}:{self.port}"
            if self.options.app_uses_tls:
                self._grpc = grpc.aio.secure_channel(target, grpc.ssl_channel_credentials())
            else:
                self._grpc = grpc.aio.insecure_channel(target)
        return self._grpc

    def grpc_metadata(
        self, carried: Iterable[tuple[str, str | bytes]] = ()
    ) -> tuple[tuple[str, str | bytes], ...]:
        """``carried`` (a forwarded call's metadata) with the app token set on it: a
        ``dapr-api-token`` it carries is replaced, as daprd's ``md.Set``, so the app sees one value."""
        if not self._token:
            return tuple(carried)
        kept = tuple((k, v) for k, v in carried if k.lower() != APP_API_TOKEN_HEADER)
        return (*kept, (APP_API_TOKEN_HEADER, self._token))

    def grpc_proxy(self) -> tuple[grpc.aio.Channel, tuple[tuple[str, str], ...]]:
        """Where the sidecar's gRPC proxy sends a call for this app, with the metadata to add."""
        if not self.configured:
            raise LookupError("this app has no --app-port")
        return self.grpc_channel(), ((APP_API_TOKEN_HEADER, self._token),) if self._token else ()

    async def close(self) -> None:
        if self._grpc is not None:
            await self._grpc.close()
            self._grpc = None

    # --- what the blocks call ---------------------------------------------------------------------

    @abc.abstractmethod
    async def invoke(self, method: str, verb: str, query: str, headers: Headers, body: bytes) -> Response:
        """Service invocation of ``method``; raises ``errors.DIRECT_INVOKE`` when the app can't be reached."""

    @abc.abstractmethod
    async def topic_event(
        self,
        sub: TopicSubscription,
        path: str,
        event: dict[str, Any],
        raw: bytes,
        metadata: Mapping[str, str],
    ) -> Outcome:
        """One CloudEvent; raises ``AppDeliveryError`` when it did not reach the app."""

    @abc.abstractmethod
    async def bulk_topic_event(
        self, sub: TopicSubscription, path: str, entries: list[BatchEntry]
    ) -> dict[str, Outcome]:
        """A batch of events; the outcome per entry id. Raises ``AppDeliveryError`` as ``topic_event``."""

    @abc.abstractmethod
    async def list_subscriptions(self, retry: Policy = NOOP) -> list[TopicSubscription]:
        """The app's programmatic subscriptions (none when it can't be asked). ``retry`` runs the
        request (daprd uses ``DaprBuiltInInitializationRetries``): a failure to reach the app is
        tried again; an answer, even an error or UNIMPLEMENTED, is not."""

    @abc.abstractmethod
    async def input_bindings(self, routes: Mapping[str, str]) -> set[str]:
        """Which of the input bindings (name → route) the app takes events of."""

    @abc.abstractmethod
    async def binding_event(self, name: str, route: str, event: ReadEvent) -> BindingReply:
        """One input-binding event; raises when it did not reach the app (a non-2xx is a reply)."""

    @abc.abstractmethod
    async def job_event(self, name: str, data: AnyPb) -> JobTrigger:
        """A job's trigger, sent to the app."""

    @abc.abstractmethod
    async def config(self) -> dict[str, Any]:
        """The app's configuration (``GET /dapr/config``); empty when it has none."""

    @abc.abstractmethod
    async def health(self, path: str, timeout: float) -> bool:
        """One health probe."""

    async def actor_request(
        self, verb: str, path: str, headers: Headers, body: bytes, timeout: float | None = None
    ) -> Response:
        """One actor callback (``PUT /actors/{type}/{id}/method/...``, ``DELETE /actors/{type}/{id}``).
        Only HTTP apps take these: a gRPC app hosts actors over the callback stream it opens."""
        raise NotImplementedError(f"a {self.protocol} app takes actor calls over its callback stream only")
