"""The workflow HTTP routes (daprd's pkg/api/http/workflow.go) over ``DaprWorkflowApi``: wire work only.

Under ``/v1.0``, ``/v1.0-beta1`` and ``/v1.0-alpha1``: ``POST workflows/{component}/{name}/start
[?instanceID=]`` (the body is the input, as sent) answers 202 ``{"instanceID": ...}``; ``GET
workflows/{component}/{instanceID}`` the instance (404 when unknown); ``POST .../{instanceID}/
raiseEvent/{eventName}`` (the body is the event data), ``/terminate``, ``/pause``, ``/resume`` and
``/purge`` answer 202 ``{}``. ``?appID=`` names the app whose workflow it is.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import msgspec

from pydapr import errors
from pydapr.api.grpc.wire import runtime
from pydapr.api.http.router import Router
from pydapr.http.messages import Request, Response

from . import errors as E
from .contract import Workflows
from .grpc_service import DaprWorkflowApi

VERSIONS = ("v1.0", "v1.0-beta1", "v1.0-alpha1")

# One parameter name where a workflow name (start) and an instance id (the rest) sit: the router
# holds one name per path position.
_TARGET = "target"

_ACCEPTED = b"{}"  # daprd writes the protojson of an empty answer, with 202


def _query(req: Request, name: str) -> str:
    # Go's URL.Query().Get: the first value, "" when absent.
    for key, value in parse_qsl(req.query, keep_blank_values=True):
        if key == name:
            return value
    return ""


def _check_body(req: Request, message: str) -> None:
    """daprd decodes a non-empty body into the request message (protojson, unknown fields
    dropped) before the path overrides its fields: only a body that does not parse shows."""
    if not req.body:
        return
    from google.protobuf import json_format  # protojson for a body given, not at every sidecar's start

    try:
        json_format.Parse(req.body, getattr(runtime, message)(), ignore_unknown_fields=True)
    except (json_format.ParseError, UnicodeDecodeError) as exc:  # bytes that are no UTF-8 too
        raise errors.MALFORMED_REQUEST(exc) from None


def _accepted() -> Response:
    return Response.json(_ACCEPTED, 202)


def register(router: Router, workflows: Workflows, app_id: str) -> None:
    api = DaprWorkflowApi(workflows, app_id)

    async def start(req: Request, params: dict[str, str]) -> Response:
        instance_id = await api.start_workflow(
            name=params[_TARGET],
            instance_id=_query(req, "instanceID"),
            input=req.body.decode("utf-8", "replace"),
            options={},
            app_id=_query(req, "appID"),
        )
        return Response.json(msgspec.json.encode({"instanceID": instance_id}), 202)

    async def get(req: Request, params: dict[str, str]) -> Response:
        _check_body(req, "GetWorkflowRequest")
        instance_id = params[_TARGET]
        response = await api.get_workflow(instance_id, _query(req, "appID"))
        if response is None:
            raise E.INSTANCE_NOT_FOUND(instance_id)
        from google.protobuf import json_format

        return Response.json(msgspec.json.encode(json_format.MessageToDict(response)))

    async def raise_event(req: Request, params: dict[str, str]) -> Response:
        # The body is the event's data as sent; an empty body is empty data (daprd reads it all).
        await api.raise_event_workflow(
            params[_TARGET], params["eventName"], req.body.decode("utf-8", "replace"), _query(req, "appID")
        )
        return _accepted()

    async def terminate(req: Request, params: dict[str, str]) -> Response:
        _check_body(req, "TerminateWorkflowRequest")
        await api.terminate_workflow(params[_TARGET], _query(req, "appID"))
        return _accepted()

    async def pause(req: Request, params: dict[str, str]) -> Response:
        _check_body(req, "PauseWorkflowRequest")
        await api.pause_workflow(params[_TARGET], _query(req, "appID"))
        return _accepted()

    async def resume(req: Request, params: dict[str, str]) -> Response:
        _check_body(req, "ResumeWorkflowRequest")
        await api.resume_workflow(params[_TARGET], _query(req, "appID"))
        return _accepted()

    async def purge(req: Request, params: dict[str, str]) -> Response:
        _check_body(req, "PurgeWorkflowRequest")
        await api.purge_workflow(params[_TARGET], _query(req, "appID"))
        return _accepted()

    for version in VERSIONS:
        base = f"/{version}/workflows/{{workflowComponent}}/{{{_TARGET}}}"
        router.add("GET", base, get)
        router.add("POST", base + "/start", start)
        router.add("POST", base + "/raiseEvent/{eventName}", raise_event)
        router.add("POST", base + "/terminate", terminate)
        router.add("POST", base + "/pause", pause)
        router.add("POST", base + "/resume", resume)
        router.add("POST", base + "/purge", purge)
