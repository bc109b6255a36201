"""``conversation.anthropic``: Anthropic's Messages API (``POST {endpoint}/messages``).

Metadata (components-contrib conversation/anthropic): ``key`` (required),
``model`` (default ``claude-sonnet-4-20250514``; ``ANTHROPIC_MODEL`` wins when set), ``endpoint``
(default ``https://api.anthropic.com/v1``; required with ``apiType: foundry``), ``cacheTTL``.
System messages become the ``system`` prompt, tool results ``tool_result`` blocks of a user turn,
assistant tool calls ``tool_use`` blocks; the tool choice takes Anthropic's object form. The answer's
text blocks and tool uses make one choice; usage counts input and output tokens.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.conversation._upstream import BaseURL, JsonAPI, ModelAPIError
from pydapr.conversation.contract import RemoteModel, resolve_model
from pydapr.conversation.model import (
    Choice,
    ConverseRequest,
    ConverseResponse,
    Message,
    Output,
    PromptTokensDetails,
    Role,
    ToolCall,
    Usage,
    normalize_finish_reason,
)
from pydapr.conversation.openai import require_key

DEFAULT_ENDPOINT = "https://api.anthropic.com/v1"
DEFAULT_MODEL = "claude-sonnet-4-20250514"
API_VERSION = "2023-06-01"
# The Messages API requires max_tokens; Dapr's client sends this when the request sets none.
DEFAULT_MAX_TOKENS = 2048


def _tool_input(call: ToolCall) -> Any:
    try:
        return json.loads(call.arguments) if call.arguments else {}
    except json.JSONDecodeError as exc:
        raise ModelAPIError(f"tool call {call.id!r} arguments are not JSON: {exc}") from exc


def anthropic_messages(messages: tuple[Message, ...]) -> tuple[str, list[dict[str, Any]]]:
    """(system prompt, messages) in the Messages API's shape."""
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for msg in messages:
        if msg.role is Role.SYSTEM:
            system.extend(msg.texts)
            continue
        blocks: list[dict[str, Any]] = [{"type": "text", "text": t} for t in msg.texts]
        blocks += [
            {"type": "tool_use", "id": c.id, "name": c.name, "input": _tool_input(c)} for c in msg.tool_calls
        ]
        blocks += [
            {"type": "tool_result", "tool_use_id": r.tool_call_id, "content": r.content}
            for r in msg.tool_results
        ]
        if not blocks:
            continue
        out.append({"role": "assistant" if msg.role is Role.ASSISTANT else "user", "content": blocks})
    return "".join(system), out


def tool_choice(choice: str | None, has_tools: bool) -> dict[str, str] | None:
    """Anthropic wants an object, and none at all without tools (components-contrib translate.go)."""
    if not choice or not has_tools or choice == "auto":
        return None
    if choice in ("required", "any"):
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    return {"type": "tool", "name": choice}


def messages_request(model: str, request: ConverseRequest) -> dict[str, Any]:
    system, messages = anthropic_messages(request.messages)
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
        "temperature": request.temperature,
    }
    if system:
        body["system"] = system
    if request.tools:
        body["tools"] = [
            {
                "name": t.name,
                **({"description": t.description} if t.description else {}),
                "input_schema": dict(t.parameters) or {"type": "object", "properties": {}},
            }
            for t in request.tools
        ]
    choice = tool_choice(request.tool_choice, bool(request.tools))
    if choice is not None:
        body["tool_choice"] = choice
    return body


def parse_messages_response(model: str, doc: Any) -> ConverseResponse:
    blocks = doc.get("content") if isinstance(doc, dict) else None
    if not isinstance(blocks, list) or not blocks:
        raise ModelAPIError("no response")
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in blocks:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "tool_use":
            arguments = msgspec.json.encode(block.get("input") or {}).decode()
            calls.append(ToolCall(str(block.get("id") or ""), str(block.get("name") or ""), arguments))
    choice = Choice(normalize_finish_reason(doc.get("stop_reason")), 0, "".join(texts), tuple(calls))
    usage = None
    raw = doc.get("usage")
    if isinstance(raw, dict):
        prompt = int(raw.get("input_tokens") or 0)
        completion = int(raw.get("output_tokens") or 0)
        cached = int(raw.get("cache_read_input_tokens") or 0)
        if prompt or completion:
            usage = Usage(
                completion_tokens=completion,
                prompt_tokens=prompt,
                total_tokens=prompt + completion,
                prompt_details=PromptTokensDetails(cached_tokens=cached) if cached else None,
            )
    return ConverseResponse((Output((choice,)),), model=model, usage=usage)


class AnthropicModel(RemoteModel):
    api: JsonAPI
    key: str = ""

    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        self.model = resolve_model("ANTHROPIC_MODEL", metadata.get("model"), DEFAULT_MODEL)
        self.key = require_key(metadata)
        endpoint = metadata.get("endpoint") or ""
        if (metadata.get("apiType") or "").lower() == "foundry" and not endpoint:
            raise ComponentConfigError(
                metadata.name, "endpoint", "endpoint must be provided when apiType is set to 'foundry'"
            )
        try:
            base = BaseURL.parse(endpoint or DEFAULT_ENDPOINT)
        except ValueError as exc:
            raise ComponentConfigError(metadata.name, "endpoint", str(exc)) from None
        self.api = JsonAPI(base)

    async def complete(self, request: ConverseRequest) -> ConverseResponse:
        headers = [("x-api-key", self.key), ("anthropic-version", API_VERSION)]
        doc = await self.api.post("/messages", messages_request(self.model, request), headers)
        return parse_messages_response(self.model, doc)

    async def close(self) -> None:
        api = getattr(self, "api", None)
        if api is not None:
            await api.close()
