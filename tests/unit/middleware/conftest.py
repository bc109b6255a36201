"""Middleware components built through the registry and run in a real pipeline around an echo handler."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydapr.api.http.dispatch import build_pipeline
from pydapr.components.base import ComponentMetadata
from pydapr.components.registry import registry
from pydapr.http.messages import Headers, Request, Response
from pydapr.middleware.contract import HttpMiddleware


def metadata(kind: str, **properties: str) -> ComponentMetadata:
    return ComponentMetadata(name=kind, type=f"middleware.http.{kind}", version="v1", properties=properties)


async def component(kind: str, **properties: str) -> HttpMiddleware:
    comp = registry.create(f"middleware.http.{kind}", "v1")
    assert isinstance(comp, HttpMiddleware)
    await comp.init(metadata(kind, **properties))
    return comp


@dataclass
class Echo:
    """The innermost step: records what reached it and answers with the body it got."""

    seen: list[Request] = field(default_factory=list)

    async def __call__(self, req: Request) -> Response:
        self.seen.append(req)
        return Response(200, Headers([("content-type", "text/plain")]), req.body)

    @property
    def last(self) -> Request:
        return self.seen[-1]


class Pipeline:
    def __init__(self, *middlewares: HttpMiddleware) -> None:
        self.echo = Echo()
        self.handler = build_pipeline(self.echo, [m.handler() for m in middlewares])

    async def send(
        self,
        path: str = "/v1.0/invoke/app/method/foo",
        *,
        method: str = "POST",
        query: str = "",
        body: bytes = b"",
        headers: list[tuple[str, str]] | None = None,
        client: tuple[str, int] | None = ("127.0.0.1", 50000),
    ) -> Response:
        req = Request(method, path, query, Headers(headers or []), body, client)
        return await self.handler(req)


async def pipeline(kind: str, **properties: str) -> Pipeline:
    return Pipeline(await component(kind, **properties))
