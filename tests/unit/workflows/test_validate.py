"""The workflow APIs' request rules with daprd's codes and messages (pkg/api/universal/workflow.go),
on their own and as the Dapr gRPC RPCs and the HTTP routes apply them and wrap the engine's errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from pydapr.api.grpc.wire import runtime
from pydapr.api.http.router import Router
from pydapr.errors import DaprError
from pydapr.http.messages import Request, Response
from pydapr.workflows import errors as E
from pydapr.workflows import validate
from pydapr.workflows._proto import durabletask_pb2 as pb
from pydapr.workflows.contract import StartRequest
from pydapr.workflows.grpc_service import DaprWorkflowApi
from pydapr.workflows.http_api import register

APP = "orders"


def refused(call: Any, *args: Any, **kwargs: Any) -> DaprError:
    with pytest.raises(DaprError) as caught:
        call(*args, **kwargs)
    return caught.value


# --- the rules ----------------------------------------------------------------------------------


def test_an_instance_id_is_required() -> None:
    for create in (True, False):
        err = refused(validate.instance_id, "", create=create)
        assert (err.code, err.http_status, err.message) == (
            "ERR_INSTANCE_ID_PROVIDED_MISSING",
            400,
            "no instance ID was provided",
        )


def test_a_new_instance_id_is_at_most_64_bytes() -> None:
    validate.instance_id("a" * 64, create=True)
    err = refused(validate.instance_id, "a" * 65, create=True)
    assert err.code == "ERR_INSTANCE_ID_TOO_LONG"
    assert err.message == "workflow instance ID exceeds the max length of 64 characters"
    # daprd counts the bytes of the UTF-8 text: 33 two-byte letters are too long.
    assert refused(validate.instance_id, "é" * 33, create=True).code == "ERR_INSTANCE_ID_TOO_LONG"
    validate.instance_id("é" * 32, create=True)


def test_a_new_instance_id_has_letters_digits_dashes_and_underscores_only() -> None:
    for good in ("order-1_A", "实例-1", "Ωmega_٣"):
        validate.instance_id(good, create=True)
    for bad in ("invalid$ID", "a.b", "a b", "a/b", "a:b", "²"):
        err = refused(validate.instance_id, bad, create=True)
        assert err.code == "ERR_INSTANCE_ID_INVALID"
        assert err.message == (
            f"workflow instance ID '{bad}' is invalid: "
            "only alphanumeric and underscore characters are allowed"
        )
        assert err.http_status == 400


def test_an_existing_instance_is_named_by_any_id() -> None:
    validate.instance_id("invalid$ID." + "x" * 100, create=False)


def test_the_target_app_id() -> None:
    assert validate.target_app_id(None, APP) is None
    assert validate.target_app_id("", APP) is None
    assert validate.target_app_id(APP, APP) is None
    assert validate.target_app_id("billing-v2_x", APP) == "billing-v2_x"
    err = refused(validate.target_app_id, "evil.app", APP)
    assert (err.code, err.http_status) == ("ERR_WORKFLOW_APP_ID_INVALID", 400)
    assert err.message == (
        "workflow app ID 'evil.app' is invalid: only alphanumeric, dash and underscore characters are allowed"
    )


def test_names_are_required() -> None:
    err = refused(validate.workflow_name, "")
    assert (err.code, err.message) == ("ERR_WORKFLOW_NAME_MISSING", "workflow name is not configured")
    err = refused(validate.event_name, "")
    assert (err.code, err.message) == ("ERR_WORKFLOW_EVENT_NAME_MISSING", "missing workflow event name")


def test_rfc3339_times_as_go_parses_them() -> None:
    assert validate.parse_rfc3339("2009-11-10T23:00:00Z") == datetime(2009, 11, 10, 23, tzinfo=UTC)
    assert validate.parse_rfc3339("2009-11-10T23:00:00.123456789Z") == datetime(
        2009, 11, 10, 23, 0, 0, 123456, tzinfo=UTC
    )
    assert validate.parse_rfc3339("2009-11-10T23:00:00.5+02:30") == datetime(
        2009, 11, 10, 23, 0, 0, 500000, tzinfo=timezone(timedelta(hours=2, minutes=30))
    )
    assert validate.parse_rfc3339("2009-11-10T23:00:00-07:00").utcoffset() == timedelta(hours=-7)
    for bad in (
        "2009-11-10 23:00:00Z",
        "2009-11-10T23:00:00",
        "2009-11-10t23:00:00Z",
        "2009-13-10T23:00:00Z",
        "2009-11-10T24:00:00Z",
        "2009-11-10T23:00:00+0200",
        "2009-11-10",
        "tomorrow",
    ):
        with pytest.raises(ValueError):
            validate.parse_rfc3339(bad)


def test_the_start_time_option() -> None:
    assert validate.start_time("wf", {}) is None
    assert validate.start_time("wf", {"dapr.workflow.start_time": "2030-01-02T03:04:05Z"}) == datetime(
        2030, 1, 2, 3, 4, 5, tzinfo=UTC
    )
    err = refused(validate.start_time, "wf", {"dapr.workflow.start_time": "next tuesday"})
    assert (err.code, err.http_status) == ("ERR_START_WORKFLOW", 500)
    assert err.message == (
        "error starting workflow 'wf': start times must be in RFC3339 format (e.g. \"2009-11-10T23:00:00Z\")"
    )


# --- as the APIs apply them ------------------------------------------------------------------------


class OneInstance:
    """A ``Workflows`` that knows one instance, "known"; the APIs' mapping is under test."""

    def __init__(self) -> None:
        self.started: list[StartRequest] = []
        self.events: list[tuple[str, str, str | None]] = []
        self.apps: list[str | None] = []  # the app of each operation on an instance

    def _known(self, instance_id: str) -> None:
        if instance_id != "known":
            raise E.NO_SUCH_INSTANCE()

    async def start(self, request: StartRequest) -> str:
        if request.instance_id == "known":
            raise E.ALREADY_EXISTS("known")
        self.started.append(request)
        return request.instance_id

    async def get(
        self, instance_id: str, *, payloads: bool = True, app: str | None = None
    ) -> pb.WorkflowState | None:
        self.apps.append(app)
        if instance_id != "known":
            return None
        state = pb.WorkflowState(
            instanceId="known", name="checkout", workflowStatus=pb.ORCHESTRATION_STATUS_FAILED
        )
        state.createdTimestamp.FromDatetime(datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC))
        state.lastUpdatedTimestamp.FromDatetime(datetime(2030, 1, 2, 3, 4, 6, 500000, tzinfo=UTC))
        state.input.value = '{"order": 1}'
        state.output.value = "the failure, not an output"
        state.customStatus.value = '"stuck"'
        state.failureDetails.errorType = "ValueError"
        state.failureDetails.errorMessage = "no stock"
        return state

    async def wait(
        self,
        instance_id: str,
        *,
        completion: bool,
        payloads: bool = True,
        timeout: float | None = None,
        app: str | None = None,
    ) -> pb.WorkflowState | None:
        return await self.get(instance_id, payloads=payloads, app=app)

    async def raise_event(
        self, instance_id: str, name: str, data: str | None, *, app: str | None = None
    ) -> None:
        self.apps.append(app)
        self._known(instance_id)
        self.events.append((instance_id, name, data))

    async def terminate(
        self, instance_id: str, output: str | None = None, *, recursive: bool = True, app: str | None = None
    ) -> None:
        self.apps.append(app)
        self._known(instance_id)

    async def suspend(self, instance_id: str, reason: str | None = None, *, app: str | None = None) -> None:
        self.apps.append(app)
        self._known(instance_id)

    async def resume(self, instance_id: str, reason: str | None = None, *, app: str | None = None) -> None:
        self.apps.append(app)
        self._known(instance_id)

    async def purge(
        self, instance_id: str, *, recursive: bool = True, force: bool = False, app: str | None = None
    ) -> int:
        self.apps.append(app)
        self._known(instance_id)
        raise E.NOT_COMPLETED(instance_id)

    async def history(self, instance_id: str) -> list[pb.HistoryEvent] | None:
        return None

    async def list_instance_ids(
        self, token: str | None, page_size: int | None
    ) -> tuple[list[str], str | None]:
        return ["known"], None


async def rejected(call: Any) -> DaprError:
    with pytest.raises(DaprError) as caught:
        await call
    return caught.value


async def test_grpc_start_validates_and_wraps_the_engine() -> None:
    instances = OneInstance()
    api = DaprWorkflowApi(instances, APP)
    rpc = api.StartWorkflowBeta1

    answer = await rpc(runtime.StartWorkflowRequest(workflow_name="checkout", input=b'{"a": 1}'), None)
    generated = answer.instance_id
    assert len(generated) == 36 and generated.count("-") == 4  # a UUID, as daprd makes
    assert instances.started[-1].input == '{"a": 1}'

    too_long = runtime.StartWorkflowRequest(instance_id="x" * 65, workflow_name="checkout")
    assert (await rejected(rpc(too_long, None))).code == "ERR_INSTANCE_ID_TOO_LONG"
    no_name = runtime.StartWorkflowRequest(instance_id="abc")
    assert (await rejected(rpc(no_name, None))).code == "ERR_WORKFLOW_NAME_MISSING"
    bad_app = runtime.StartWorkflowRequest(instance_id="abc", workflow_name="checkout", app_id="a.b")
    assert (await rejected(rpc(bad_app, None))).code == "ERR_WORKFLOW_APP_ID_INVALID"

    later = runtime.StartWorkflowRequest(
        instance_id="later",
        workflow_name="checkout",
        options={"dapr.workflow.start_time": "2030-01-02T03:04:05+01:00"},
    )
    await rpc(later, None)
    assert instances.started[-1].scheduled_start == datetime(2030, 1, 2, 2, 4, 5, tzinfo=UTC)
    # Same app as the sidecar's: a local call; another app's: that app's (cross-app operations).
    await rpc(runtime.StartWorkflowRequest(instance_id="mine", workflow_name="checkout", app_id=APP), None)
    assert instances.started[-1].app is None
    await rpc(
        runtime.StartWorkflowRequest(instance_id="theirs", workflow_name="checkout", app_id="b-2"), None
    )
    assert instances.started[-1].app == "b-2"

    err = await rejected(
        rpc(runtime.StartWorkflowRequest(instance_id="known", workflow_name="checkout"), None)
    )
    assert (err.code, err.grpc_status.name) == ("ERR_START_WORKFLOW", "INTERNAL")
    assert err.message == (
        "error starting workflow 'checkout': unable to start workflow: failed to start workflow: "
        "an active workflow with ID 'known' already exists"
    )
    assert (await api.StartWorkflowAlpha1(runtime.StartWorkflowRequest(workflow_name="w"), None)).instance_id


async def test_grpc_get_answers_as_daprd() -> None:
    api = DaprWorkflowApi(OneInstance(), APP)
    got = await api.GetWorkflowBeta1(runtime.GetWorkflowRequest(instance_id="known"), None)
    assert (got.instance_id, got.workflow_name, got.runtime_status) == ("known", "checkout", "FAILED")
    assert got.created_at.ToDatetime(tzinfo=UTC) == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert dict(got.properties) == {
        "dapr.workflow.input": '{"order": 1}',
        "dapr.workflow.custom_status": '"stuck"',
        "dapr.workflow.failure.error_type": "ValueError",
        "dapr.workflow.failure.error_message": "no stock",
    }
    # An unknown instance: its id alone, and no error.
    unknown = await api.GetWorkflowAlpha1(runtime.GetWorkflowRequest(instance_id="nobody"), None)
    assert unknown == runtime.GetWorkflowResponse(instance_id="nobody")
    missing = await rejected(api.GetWorkflowBeta1(runtime.GetWorkflowRequest(), None))
    assert missing.code == "ERR_INSTANCE_ID_PROVIDED_MISSING"


async def test_grpc_operations_wrap_as_daprd() -> None:
    instances = OneInstance()
    api = DaprWorkflowApi(instances, APP)

    err = await rejected(
        api.TerminateWorkflowBeta1(runtime.TerminateWorkflowRequest(instance_id="nobody"), None)
    )
    assert (err.code, err.grpc_status.name, err.message) == (
        "ERR_INSTANCE_ID_NOT_FOUND",
        "NOT_FOUND",
        "unable to find workflow with the provided instance ID: nobody",
    )
    await api.TerminateWorkflowBeta1(runtime.TerminateWorkflowRequest(instance_id="known"), None)

    err = await rejected(
        api.RaiseEventWorkflowBeta1(
            runtime.RaiseEventWorkflowRequest(instance_id="nobody", event_name="paid"), None
        )
    )
    assert err.code == "ERR_RAISE_EVENT_WORKFLOW"
    assert err.message == (
        "error raising event on workflow 'nobody': failed to raise event paid on workflow nobody: "
        "failed to raise event: no such instance exists"
    )
    no_event = runtime.RaiseEventWorkflowRequest(instance_id="known")
    assert (
        await rejected(api.RaiseEventWorkflowBeta1(no_event, None))
    ).code == "ERR_WORKFLOW_EVENT_NAME_MISSING"
    await api.RaiseEventWorkflowBeta1(
        runtime.RaiseEventWorkflowRequest(instance_id="known", event_name="a"), None
    )
    await api.RaiseEventWorkflowBeta1(
        runtime.RaiseEventWorkflowRequest(instance_id="known", event_name="b", event_data=b'"x"'), None
    )
    assert instances.events == [("known", "a", None), ("known", "b", '"x"')]

    err = await rejected(api.PauseWorkflowBeta1(runtime.PauseWorkflowRequest(instance_id="nobody"), None))
    assert err.message == (
        "error pausing workflow nobody: failed to pause workflow nobody: failed to suspend workflow: "
        "no such instance exists"
    )
    err = await rejected(api.ResumeWorkflowBeta1(runtime.ResumeWorkflowRequest(instance_id="nobody"), None))
    assert err.message == (
        "error resuming workflow nobody: failed to resume workflow nobody: failed to resume workflow: "
        "no such instance exists"
    )
    err = await rejected(api.PurgeWorkflowBeta1(runtime.PurgeWorkflowRequest(instance_id="nobody"), None))
    assert err.code == "ERR_INSTANCE_ID_NOT_FOUND"
    err = await rejected(api.PurgeWorkflowBeta1(runtime.PurgeWorkflowRequest(instance_id="known"), None))
    assert (err.code, err.message) == (
        "ERR_PURGE_WORKFLOW",
        "error purging workflow known: failed to Purge workflow known: failed to purge workflow state: "
        "workflow 'known' is not in a completed state",
    )


async def call(router: Router, method: str, target: str, body: bytes = b"") -> Response:
    path, _, query = target.partition("?")
    found = router.match(method, path)
    assert found is not None, target
    handler, params = found
    try:
        return await handler(Request(method, path, query, body=body), params)
    except DaprError as err:
        return Response.json(err.http_body(), err.http_status)


async def test_http_routes_answer_as_daprd() -> None:
    instances = OneInstance()
    router = Router()
    register(router, instances, APP)

    for version in ("v1.0", "v1.0-beta1", "v1.0-alpha1"):
        started = await call(
            router, "POST", f"/{version}/workflows/dapr/checkout/start?instanceID=o-1", b'{"a":1}'
        )
        assert (started.status, json.loads(started.body)) == (202, {"instanceID": "o-1"})
    assert instances.started[-1].input == '{"a":1}'
    empty = await call(router, "POST", "/v1.0/workflows/dapr/checkout/start")
    assert empty.status == 202 and instances.started[-1].input == ""

    invalid = await call(router, "POST", "/v1.0/workflows/dapr/checkout/start?instanceID=invalid$ID")
    assert invalid.status == 400
    assert json.loads(invalid.body) == {
        "errorCode": "ERR_INSTANCE_ID_INVALID",
        "message": "workflow instance ID 'invalid$ID' is invalid: "
        "only alphanumeric and underscore characters are allowed",
    }
    long_id = "x" * 65
    too_long = await call(router, "POST", f"/v1.0/workflows/dapr/checkout/start?instanceID={long_id}")
    assert (too_long.status, json.loads(too_long.body)["errorCode"]) == (400, "ERR_INSTANCE_ID_TOO_LONG")

    got = await call(router, "GET", "/v1.0/workflows/dapr/known")
    assert got.status == 200
    assert json.loads(got.body) == {
        "instanceID": "known",
        "workflowName": "checkout",
        "createdAt": "2030-01-02T03:04:05Z",
        "lastUpdatedAt": "2030-01-02T03:04:06.500Z",
        "runtimeStatus": "FAILED",
        "properties": {
            "dapr.workflow.input": '{"order": 1}',
            "dapr.workflow.custom_status": '"stuck"',
            "dapr.workflow.failure.error_type": "ValueError",
            "dapr.workflow.failure.error_message": "no stock",
        },
    }
    unknown = await call(router, "GET", "/v1.0-beta1/workflows/dapr/nobody")
    assert (unknown.status, json.loads(unknown.body)) == (
        404,
        {
            "errorCode": "ERR_INSTANCE_ID_NOT_FOUND",
            "message": "unable to find workflow with the provided instance ID: nobody",
        },
    )

    for op in ("terminate", "pause", "resume"):
        done = await call(router, "POST", f"/v1.0/workflows/dapr/known/{op}")
        assert (done.status, done.body, done.headers.get("content-type")) == (202, b"{}", "application/json")
    not_found = await call(router, "POST", "/v1.0/workflows/dapr/nobody/terminate")
    assert (not_found.status, json.loads(not_found.body)["errorCode"]) == (404, "ERR_INSTANCE_ID_NOT_FOUND")
    purge = await call(router, "POST", "/v1.0/workflows/dapr/known/purge")
    assert (purge.status, json.loads(purge.body)["errorCode"]) == (500, "ERR_PURGE_WORKFLOW")
    malformed = await call(router, "POST", "/v1.0/workflows/dapr/known/terminate", b"{not json")
    assert (malformed.status, json.loads(malformed.body)["errorCode"]) == (400, "ERR_MALFORMED_REQUEST")

    raised = await call(router, "POST", "/v1.0/workflows/dapr/known/raiseEvent/paid", b'{"amount": 3}')
    assert (raised.status, raised.body) == (202, b"{}")
    await call(router, "POST", "/v1.0/workflows/dapr/known/raiseEvent/nudge")
    # Over HTTP the body is always the data: an empty body is empty data, as daprd reads it.
    assert instances.events == [("known", "paid", '{"amount": 3}'), ("known", "nudge", "")]

    bad_app = await call(router, "POST", "/v1.0/workflows/dapr/known/pause?appID=a.b")
    assert (bad_app.status, json.loads(bad_app.body)["errorCode"]) == (400, "ERR_WORKFLOW_APP_ID_INVALID")
    instances.apps.clear()
    for op in ("pause", "resume", "terminate", "raiseEvent/paid"):
        assert (await call(router, "POST", f"/v1.0/workflows/dapr/known/{op}?appID=other")).status == 202
    assert (await call(router, "GET", "/v1.0/workflows/dapr/known?appID=other")).status == 200
    assert instances.apps == ["other"] * 5


async def test_http_body_that_is_no_utf8_is_a_malformed_request() -> None:
    # A body that is no UTF-8 answered 500 ERR_INTERNAL (UnicodeDecodeError); daprd's protojson
    # decoding answers 400 ERR_MALFORMED_REQUEST.
    router = Router()
    register(router, OneInstance(), APP)
    for op in ("terminate", "pause", "resume", "purge"):
        answer = await call(router, "POST", f"/v1.0/workflows/dapr/known/{op}", b"\xff\xfe{")
        assert (answer.status, json.loads(answer.body)["errorCode"]) == (400, "ERR_MALFORMED_REQUEST"), op
