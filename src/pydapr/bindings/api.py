"""The output bindings API both transports call: binding lookup, operation check, errors.

Every failure is ``ERR_INVOKE_OUTPUT_BINDING`` as in Dapr, with the cause in the message: an unknown
binding, an operation the binding does not offer (the supported ones are listed), or the binding's
own error.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydapr.bindings import errors as E
from pydapr.bindings.contract import InvokeRequest, InvokeResponse, OutputBinding
from pydapr.observability import trace_context


class BindingsAPI:
    def __init__(self, outputs: Mapping[str, OutputBinding]) -> None:
        self._outputs = outputs

    async def invoke(self, name: str, request: InvokeRequest) -> InvokeResponse:
        binding = self._outputs.get(name)
        if binding is None:
            raise E.INVOKE_OUTPUT_BINDING(name, f"couldn't find output binding {name}")
        supported = binding.operations()
        if request.operation not in supported:
            raise E.INVOKE_OUTPUT_BINDING(
                name,
                f"binding {name} does not support operation {request.operation}. "
                f"supported operations:{' '.join(supported)}",
            )
        _add_trace(request)
        try:
            return await binding.invoke(request)
        except Exception as exc:
            raise E.INVOKE_OUTPUT_BINDING(name, str(exc) or type(exc).__name__) from exc


def _add_trace(request: InvokeRequest) -> None:
    """As daprd: the call's ``traceparent``/``tracestate`` go to the binding in its metadata (the
    HTTP binding sends them as headers), unless the caller set its own."""
    traceparent = trace_context.current_traceparent.get()
    if not traceparent:
        return
    request.metadata.setdefault(trace_context.TRACEPARENT, traceparent)
    state = trace_context.current_tracestate.get()
    if state:
        request.metadata.setdefault(trace_context.TRACESTATE, state)
