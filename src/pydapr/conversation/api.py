"""The conversation API both transports call: validation in Dapr's order, PII scrubbing, the call.

Follows dapr/dapr pkg/api/universal/conversation.go. Alpha1 takes plain ``(role, content)`` inputs
and answers one string per output (the first choice's content); alpha2 takes typed messages, tools
and options and answers choices with tool calls and usage. ``scrubPII`` on an input scrubs that
input before the model sees it; on the request it scrubs the model's answer. Any failure of the
component is ``ERR_CONVERSATION_INVOKE`` with the component's message.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydapr.conversation import errors as E
from pydapr.conversation.contract import ConversationModel
from pydapr.conversation.model import (
    Choice,
    ConverseRequest,
    ConverseResponse,
    Message,
    Output,
    Part,
    Role,
    Text,
    Tool,
    ToolCall,
    ToolResult,
)

log = logging.getLogger("pydapr.conversation")

# Alpha1's free-form roles, as Dapr maps them (unknown ones are the user's).
_ALPHA1_ROLES = {
    "user": Role.USER,
    "human": Role.USER,
    "generic": Role.USER,
    "system": Role.SYSTEM,
    "assistant": Role.ASSISTANT,
    "ai": Role.ASSISTANT,
    "tool": Role.TOOL,
    "function": Role.TOOL,
}
# Alpha2's message kinds; Dapr sends the developer's messages as the user's.
_ALPHA2_ROLES = {
    "developer": Role.USER,
    "system": Role.SYSTEM,
    "user": Role.USER,
    "assistant": Role.ASSISTANT,
    "tool": Role.TOOL,
}
_CHOICES = "'auto', 'none', 'required', or a specific tool name matching the tools available to be used"


@dataclass(frozen=True, slots=True)
class Alpha1Input:
    content: str
    role: str = ""
    scrub_pii: bool = False


@dataclass(frozen=True, slots=True)
class Alpha1Request:
    name: str
    inputs: tuple[Alpha1Input, ...]
    temperature: float = 0.0
    scrub_pii: bool = False


@dataclass(frozen=True, slots=True)
class InputToolCall:
    id: str
    name: str | None  # None: the call names no function (Dapr: "tool types cannot be nil")
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class InputMessage:
    """One alpha2 message as the caller sent it; ``kind`` is None when no message type was set."""

    kind: str | None
    texts: tuple[str, ...] = ()
    tool_calls: tuple[InputToolCall, ...] = ()
    tool_id: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class Alpha2Input:
    messages: tuple[InputMessage, ...]
    scrub_pii: bool = False


@dataclass(frozen=True, slots=True)
class Alpha2Request:
    name: str
    inputs: tuple[Alpha2Input, ...]
    tools: tuple[Tool, ...] = ()
    tool_choice: str = ""
    temperature: float = 0.0
    metadata: Mapping[str, str] = field(default_factory=dict)
    scrub_pii: bool = False
    response_format: Mapping[str, Any] | None = None
    prompt_cache_retention_seconds: float | None = None
    max_tokens: int | None = None


def scrub(text: str) -> str:
    """``pii.scrub``, its module imported on the first text to scrub: compiling its patterns costs
    every sidecar ~8 ms and their memory at startup, and most never scrub anything."""
    from pydapr.conversation.pii import scrub as scrub_text

    return scrub_text(text)


class ConversationAPI:
    def __init__(self, models: Mapping[str, ConversationModel]) -> None:
        self._models = models

    def _model(self, name: str) -> ConversationModel:
        model = self._models.get(name)
        if model is None:
            raise E.NOT_FOUND(name)
        return model

    async def _call(self, name: str, model: ConversationModel, request: ConverseRequest) -> ConverseResponse:
        try:
            return await model.converse(request)
        except Exception as exc:
            log.debug("conversation %s failed: %s", name, exc)
            raise E.INVOKE(name, str(exc) or type(exc).__name__) from exc

    async def converse_alpha1(self, req: Alpha1Request) -> list[str]:
        """One result per output of the model: its first choice's content."""
        model = self._model(req.name)
        if not req.inputs:
            raise E.MISSING_INPUTS(req.name)
        messages = tuple(
            Message(
                _ALPHA1_ROLES.get(i.role, Role.USER),
                (Text(scrub(i.content) if i.scrub_pii else i.content),),
            )
            for i in req.inputs
        )
        response = await self._call(req.name, model, ConverseRequest(messages, temperature=req.temperature))
        results = []
        for output in response.outputs:
            content = output.choices[0].content if output.choices else ""
            results.append(scrub(content) if req.scrub_pii else content)
        return results

    async def converse_alpha2(self, req: Alpha2Request) -> ConverseResponse:
        model = self._model(req.name)
        if not req.inputs:
            raise E.MISSING_INPUTS(req.name)
        messages = tuple(self._message(req.name, m, i.scrub_pii) for i in req.inputs for m in i.messages)
        tool_choice = self._tool_choice(req)
        request = ConverseRequest(
            messages=messages,
            tools=req.tools,
            tool_choice=tool_choice or None,
            temperature=req.temperature,
            metadata=dict(req.metadata),
            response_format=req.response_format,
            prompt_cache_retention_seconds=req.prompt_cache_retention_seconds,
            max_tokens=req.max_tokens,
        )
        response = await self._call(req.name, model, request)
        if not req.scrub_pii:
            return response
        return dataclasses.replace(
            response,
            outputs=tuple(
                Output(tuple(dataclasses.replace(c, content=scrub(c.content)) for c in o.choices))
                for o in response.outputs
            ),
        )

    @staticmethod
    def _message(name: str, msg: InputMessage, scrub_pii: bool) -> Message:
        if msg.kind is None:
            raise E.INVALID_PARAMS(name, "message type cannot be nil")
        role = _ALPHA2_ROLES.get(msg.kind)
        if role is None:
            raise E.INVALID_PARAMS(name, "unsupported message type")
        texts = [scrub(t) if scrub_pii else t for t in msg.texts]
        parts: list[Part]
        if role is Role.TOOL:
            parts = [ToolResult(msg.tool_id, msg.name, t) for t in texts]
        else:
            parts = [Text(t) for t in texts]
        if role is Role.ASSISTANT:
            for call in msg.tool_calls:
                if call.name is None:
                    raise E.INVALID_PARAMS(name, "tool types cannot be nil")
                parts.append(ToolCall(call.id, call.name, call.arguments))
        return Message(role, tuple(parts))

    @staticmethod
    def _tool_choice(req: Alpha2Request) -> str:
        choice = req.tool_choice
        if not choice and req.tools:
            choice = "auto"
        if choice in ("auto", "none", ""):
            return choice
        if choice == "required":
            if not req.tools:
                raise E.INVALID_PARAMS(req.name, f"tool choice must be {_CHOICES}")
            return choice
        # A tool's name; Dapr checks it only against a non-empty tool list.
        if req.tools and all(t.name != choice for t in req.tools):
            raise E.INVALID_PARAMS(req.name, f"tool choice selected was not found. Must be {_CHOICES}")
        return choice


__all__ = [
    "Alpha1Input",
    "Alpha1Request",
    "Alpha2Input",
    "Alpha2Request",
    "Choice",
    "ConversationAPI",
    "InputMessage",
    "InputToolCall",
]
