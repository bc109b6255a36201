"""The proto mapping of ``ConverseAlpha1`` and ``ConverseAlpha2`` that both transports share: the
servicer (``conversation_service``) and the HTTP routes, which speak the protobuf JSON of the same
messages, as daprd does.

Alpha2 messages exist only in SDK releases that define them (``runtime.has``); without them the
RPC and its HTTP route are not served. Fields added to the proto later (``response_format``,
``prompt_cache_retention``, ``max_tokens``, the result's ``model`` and ``usage``) are read and
written only when the installed definitions have them.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from pydapr.api.grpc.wire import runtime
from pydapr.conversation.api import (
    Alpha1Input,
    Alpha1Request,
    Alpha2Input,
    Alpha2Request,
    InputMessage,
    InputToolCall,
)
from pydapr.conversation.model import ConverseResponse, Tool, Usage


def _has(msg: Any, field: str) -> bool:
    return field in msg.DESCRIPTOR.fields_by_name and msg.HasField(field)


def alpha1_request(msg: Any) -> Alpha1Request:
    return Alpha1Request(
        name=msg.name,
        inputs=tuple(Alpha1Input(i.content, i.role, i.scrubPII) for i in msg.inputs),
        temperature=msg.temperature,
        scrub_pii=msg.scrubPII,
    )


def alpha1_response(msg: Any, results: list[str]) -> Any:
    response = runtime.ConversationResponse()
    if msg.contextID:
        response.contextID = msg.contextID
    for result in results:
        out = response.outputs.add(result=result)
        # Dapr hands the request's parameters back with every output.
        for key, value in msg.parameters.items():
            out.parameters[key].CopyFrom(value)
    return response


def _message(msg: Any) -> InputMessage:
    kind = msg.WhichOneof("message_types")
    if kind is None:
        return InputMessage(None)
    body = getattr(msg, kind)
    texts = tuple(c.text for c in body.content)
    kind = kind.removeprefix("of_")
    if kind == "assistant":
        calls = tuple(
            InputToolCall(c.id, c.function.name if c.WhichOneof("tool_types") else None, c.function.arguments)
            for c in body.tool_calls
        )
        return InputMessage(kind, texts, calls)
    if kind == "tool":
        return InputMessage(kind, texts, tool_id=body.tool_id, name=body.name)
    return InputMessage(kind, texts)


# Go's time.Duration range, in seconds: daprd reads the Duration with AsDuration, which saturates.
_GO_DURATION_MAX = (2**63 - 1) / 1e9
_GO_DURATION_MIN = -(2**63) / 1e9


def go_duration_seconds(duration: Any) -> float:
    """A google.protobuf.Duration in seconds, clamped as daprd's ``AsDuration`` clamps it (any
    int64 of seconds is a valid message; past Go's range it saturates instead of failing)."""
    seconds = float(duration.seconds + duration.nanos / 1e9)
    return min(max(seconds, _GO_DURATION_MIN), _GO_DURATION_MAX)


def alpha2_request(msg: Any) -> Alpha2Request:
    tools = tuple(
        Tool(
            t.function.name,
            t.function.description,
            json_format.MessageToDict(t.function.parameters),
        )
        for t in msg.tools
        if t.WhichOneof("tool_types") == "function"
    )
    retention = None
    if _has(msg, "prompt_cache_retention"):
        retention = go_duration_seconds(msg.prompt_cache_retention)
    return Alpha2Request(
        name=msg.name,
        inputs=tuple(Alpha2Input(tuple(_message(m) for m in i.messages), i.scrub_pii) for i in msg.inputs),
        tools=tools,
        tool_choice=msg.tool_choice,
        temperature=msg.temperature,
        metadata=dict(msg.metadata),
        scrub_pii=msg.scrub_pii,
        response_format=json_format.MessageToDict(msg.response_format)
        if _has(msg, "response_format")
        else None,
        prompt_cache_retention_seconds=retention,
        max_tokens=msg.max_tokens if _has(msg, "max_tokens") else None,
    )


def _usage(target: Any, usage: Usage) -> None:
    target.completion_tokens = usage.completion_tokens
    target.prompt_tokens = usage.prompt_tokens
    target.total_tokens = usage.total_tokens
    if usage.completion_details is not None:
        d = usage.completion_details
        target.completion_tokens_details.accepted_prediction_tokens = d.accepted_prediction_tokens
        target.completion_tokens_details.audio_tokens = d.audio_tokens
        target.completion_tokens_details.reasoning_tokens = d.reasoning_tokens
        target.completion_tokens_details.rejected_prediction_tokens = d.rejected_prediction_tokens
    if usage.prompt_details is not None:
        target.prompt_tokens_details.audio_tokens = usage.prompt_details.audio_tokens
        target.prompt_tokens_details.cached_tokens = usage.prompt_details.cached_tokens


def alpha2_response(msg: Any, result: ConverseResponse) -> Any:
    response = runtime.ConversationResponseAlpha2()
    if msg.context_id:
        response.context_id = msg.context_id
    for output in result.outputs:
        out = response.outputs.add()
        for choice in output.choices:
            c = out.choices.add(finish_reason=choice.finish_reason, index=choice.index)
            c.message.content = choice.content
            for call in choice.tool_calls:
                tc = c.message.tool_calls.add()
                if call.id:
                    tc.id = call.id
                tc.function.name = call.name
                tc.function.arguments = call.arguments
        # ``model`` and ``usage`` came with Dapr 1.17's messages; older definitions lack them.
        fields = out.DESCRIPTOR.fields_by_name
        if result.model and "model" in fields:
            out.model = result.model
        if result.usage is not None and "usage" in fields:
            out.usage.SetInParent()
            _usage(out.usage, result.usage)
    return response
