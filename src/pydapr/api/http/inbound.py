"""The public HTTP API's step into the call pipeline (``Direction.INBOUND_HTTP``).

The chain is chosen by the API group of the path (``state`` for ``/v1.0/state/...``, ``healthz``,
``invoke`` ... as daprd groups its endpoints; a path outside the Dapr API is ``invoke``, the
header-addressed fallback), and is empty unless a source intercepts that group, in which case the
request passes by without a Call being built.
"""

from __future__ import annotations

from pydapr import errors
from pydapr.api.http.dispatch import Handler, Middleware
from pydapr.http.messages import Request, Response
from pydapr.observability import trace_context
from pydapr.pipeline import Call, Direction, Pipeline


def api_group(path: str) -> str:
    """``/v1.0-alpha1/state/s/query`` → ``state``; paths outside ``/v1.0*/`` → ``invoke``."""
    if not path.startswith("/v1.0"):
        return "invoke"
    first = path.find("/", 1)
    if first < 0:
        return "invoke"
    second = path.find("/", first + 1)
    return path[first + 1 : second] if second > 0 else path[first + 1 :]


def pipeline_middleware(pipeline: Pipeline) -> Middleware:
    chain_for = pipeline.chain
    inbound = Direction.INBOUND_HTTP

    async def through_chain(req: Request, call_next: Handler) -> Response:
        group = api_group(req.path)
        chain = chain_for(inbound, group)
        if chain.empty:
            return await call_next(req)
        call = Call(
            inbound,
            group,
            f"{req.method} {req.path}",
            trace=req.headers.get("traceparent") or "",
            user_agent=req.headers.get("user-agent") or "",
            request_size=len(req.body),
            request=req,
        )
        # The Call carries the traceparent; its tracestate goes to the tracing interceptor this way.
        state = trace_context.valid_tracestate(req.headers.get("tracestate") or "")
        state_token = trace_context.current_tracestate.set(state)

        async def proceed() -> Response:
            try:
                resp = await call_next(req)
            except errors.DaprError as err:
                call.status = f"{err.http_status} {err.code}"
                call.route = req.route
                raise
            except Exception:
                call.status = "500"
                call.route = req.route
                raise
            call.status = str(resp.status)
            call.route = req.route
            return resp

        try:
            resp: Response = await chain.run(call, proceed)
        finally:
            trace_context.current_tracestate.reset(state_token)
        return resp

    return through_chain
