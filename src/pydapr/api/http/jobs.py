"""HTTP routes of the jobs API: ``/v1.0-alpha1/jobs/{name}`` and ``/v1.0/jobs/{name}`` (POST, GET, DELETE)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from pydapr import errors
from pydapr.api.grpc.wire import runtime
from pydapr.api.http.jsonbody import BodyDecoder
from pydapr.http.messages import Request, Response
from pydapr.jobs import errors as job_errors

if TYPE_CHECKING:
    from pydapr.api.http.router import Router
    from pydapr.jobs.api import JobsAPI

# google.protobuf.json_format is imported by the first job request, not at startup.

_ABSENT = msgspec.Raw(b"")


class _JobBody(msgspec.Struct, forbid_unknown_fields=True):
    """Dapr's JobHTTPRequest, decoded as protojson does (``dueTime`` or ``due_time``)."""

    name: str = ""
    schedule: str | None = None
    repeats: Annotated[int, msgspec.Meta(ge=0, le=2**32 - 1)] | None = None
    dueTime: str | None = None
    ttl: str | None = None
    data: msgspec.Raw = _ABSENT
    overwrite: bool | None = None
    failurePolicy: msgspec.Raw = _ABSENT


_BODY: BodyDecoder[_JobBody] = BodyDecoder(_JobBody, "protojson")


def _job_from_body(name: str, body: bytes) -> tuple[Any, bool]:
    from google.protobuf import json_format, struct_pb2

    try:
        doc = _BODY.decode(body or b"{}")
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise errors.MALFORMED_REQUEST(str(exc)) from None
    if doc.name:
        raise job_errors.NAME_IN_BODY()
    fields: dict[str, Any] = {"name": name}
    for key in ("schedule", "repeats", "dueTime", "ttl"):
        if (value := getattr(doc, key)) is not None:
            fields[key] = value
    try:
        if doc.failurePolicy:
            fields["failurePolicy"] = msgspec.json.decode(doc.failurePolicy)
        job = json_format.ParseDict(fields, runtime.Job())
        if doc.data:
            # Dapr stores HTTP job data as a google.protobuf.Value and hands it back as JSON.
            value = json_format.ParseDict(msgspec.json.decode(doc.data), struct_pb2.Value())
            job.data.Pack(value)
    except json_format.ParseError as exc:
        raise errors.MALFORMED_REQUEST(str(exc)) from None
    return job, bool(doc.overwrite)


def job_to_json(job: Any) -> bytes:
    from google.protobuf import json_format

    try:
        return str(json_format.MessageToJson(job, indent=None)).encode()
    except (TypeError, json_format.Error):
        # The data's type is unknown to this process (an app-defined message): show it as bytes.
        data = job.data
        job.ClearField("data")
        doc = json_format.MessageToDict(job)
        doc["data"] = {"@type": data.type_url, "value": json_format.MessageToDict(data)["value"]}
        return json.dumps(doc).encode()


def register(router: Router, api: JobsAPI) -> None:
    async def schedule(req: Request, params: dict[str, str]) -> Response:
        name = params.get("name", "").strip()
        job, overwrite = _job_from_body(name, req.body)
        await api.schedule(job, overwrite)
        return Response.empty(204)

    async def get(req: Request, params: dict[str, str]) -> Response:
        return Response.json(job_to_json(await api.get(params.get("name", ""))))

    async def delete(req: Request, params: dict[str, str]) -> Response:
        await api.delete(params.get("name", ""))
        return Response.empty(204)

    for version in ("v1.0-alpha1", "v1.0"):
        router.add("POST", f"/{version}/jobs/{{name}}", schedule)
        router.add("GET", f"/{version}/jobs/{{name}}", get)
        router.add("DELETE", f"/{version}/jobs/{{name}}", delete)
