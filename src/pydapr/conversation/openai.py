"""``conversation.openai``: OpenAI's Chat Completions API, or any server that speaks it.

Metadata as in components-contrib conversation/openai: ``key`` (required: Dapr's client refuses to
start without one), ``model`` (default ``gpt-5-nano``; ``OPENAI_MODEL`` wins when set),
``endpoint`` (base URL, default ``https://api.openai.com/v1``, also ``OPENAI_BASE_URL``),
``cacheTTL``, and for Azure OpenAI ``apiType: azure`` with ``endpoint`` and ``apiVersion``
(``AZURE_OPENAI_MODEL``, default ``gpt-4.1-nano``; the model is the deployment).
Nothing is contacted at init.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.conversation._upstream import BaseURL, JsonAPI, ModelAPIError
from pydapr.conversation.contract import RemoteModel, resolve_model
from pydapr.conversation.model import (
    Choice,
    CompletionTokensDetails,
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

log = logging.getLogger("pydapr.conversation")

DEFAULT_ENDPOINT = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-5-nano"
DEFAULT_AZURE_MODEL = "gpt-4.1-nano"
_TOOL_CHOICE_KEYWORDS = ("auto", "none", "required")


def _is_reasoning_model(model: str) -> bool:
    # These reject an explicit temperature (the same list as Dapr's OpenAI client).
    return model.startswith(("o1-", "o3-", "gpt-5")) or model == "o3"


def _content(texts: list[str]) -> str | list[dict[str, str]]:
    return texts[0] if len(texts) == 1 else [{"type": "text", "text": t} for t in texts]


def chat_messages(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """Dapr's messages in the Chat Completions shape; each tool result is a ``tool`` message."""
    out: list[dict[str, Any]] = []
    for msg in messages:
        if msg.role is Role.TOOL and msg.tool_results:
            out.extend(
                {"role": "tool", "tool_call_id": r.tool_call_id, "content": r.content}
                for r in msg.tool_results
            )
            continue
        entry: dict[str, Any] = {"role": msg.role.value}
        texts = msg.texts
        entry["content"] = _content(texts) if texts else ""
        calls = msg.tool_calls
        if calls:
            entry["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in calls
            ]
        out.append(entry)
    return out


def _tool_choice(choice: str) -> Any:
    if choice == "any":
        return "required"
    if choice in _TOOL_CHOICE_KEYWORDS:
        return choice
    return {"type": "function", "function": {"name": choice}}


def _response_format(schema: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in schema.items() if k not in ("name", "strict")}
    return {
        "type": "json_schema",
        "json_schema": {
            "name": schema.get("name") or "response",
            "strict": bool(schema.get("strict", False)),
            "schema": body,
        },
    }


def chat_request(
    model: str, request: ConverseRequest, messages: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The Chat Completions body; ``messages`` replaces the default mapping of the request's."""
    body: dict[str, Any] = {
        "model": model,
        "messages": chat_messages(request.messages) if messages is None else messages,
    }
    if not _is_reasoning_model(model):
        body["temperature"] = request.temperature
    if request.max_tokens:
        body["max_completion_tokens"] = request.max_tokens
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    **({"description": t.description} if t.description else {}),
                    "parameters": dict(t.parameters),
                },
            }
            for t in request.tools
        ]
    if request.tool_choice:
        body["tool_choice"] = _tool_choice(request.tool_choice)
    if request.response_format is not None:
        if isinstance(request.response_format.get("type"), str):
            body["response_format"] = _response_format(dict(request.response_format))
        else:
            # As Dapr: a schema without a type is dropped with a warning, the call goes on.
            log.warning("response format ignored: a JSON schema needs a string 'type'")
    if request.prompt_cache_retention_seconds is not None:
        # OpenAI's extended prompt caching knows two retentions: in memory (minutes) or 24h.
        body["prompt_cache_retention"] = (
            "24h" if request.prompt_cache_retention_seconds >= 24 * 3600 else "in_memory"
        )
    if request.metadata:
        body["metadata"] = dict(request.metadata)
    return body


def _int(doc: Any, key: str) -> int:
    value = doc.get(key) if isinstance(doc, dict) else None
    return int(value) if isinstance(value, int | float) and value > 0 else 0


def parse_usage(doc: Any) -> Usage | None:
    if not isinstance(doc, dict):
        return None
    completion = CompletionTokensDetails(
        *(
            _int(doc.get("completion_tokens_details"), k)
            for k in (
                "accepted_prediction_tokens",
                "audio_tokens",
                "reasoning_tokens",
                "rejected_prediction_tokens",
            )
        )
    )
    prompt = PromptTokensDetails(
        *(_int(doc.get("prompt_tokens_details"), k) for k in ("audio_tokens", "cached_tokens"))
    )
    usage = Usage(
        completion_tokens=_int(doc, "completion_tokens"),
        prompt_tokens=_int(doc, "prompt_tokens"),
        total_tokens=_int(doc, "total_tokens"),
        completion_details=completion if completion != CompletionTokensDetails() else None,
        prompt_details=prompt if prompt != PromptTokensDetails() else None,
    )
    if not (usage.completion_tokens or usage.prompt_tokens or usage.total_tokens):
        return None
    return usage


def parse_chat_response(model: str, doc: Any) -> ConverseResponse:
    """One output per choice, as Dapr's langchaingo bridge returns them."""
    choices = doc.get("choices") if isinstance(doc, dict) else None
    if not isinstance(choices, list) or not choices:
        raise ModelAPIError("no response")
    outputs = []
    for index, raw in enumerate(choices):
        message = raw.get("message") if isinstance(raw, dict) else None
        if not isinstance(message, dict):
            raise ModelAPIError(f"malformed choice in the model's answer: {raw!r}")
        calls = []
        for call in message.get("tool_calls") or ():
            fn = call.get("function") or {}
            calls.append(
                ToolCall(str(call.get("id") or ""), str(fn.get("name") or ""), str(fn.get("arguments") or ""))
            )
        content = message.get("content")
        choice = Choice(
            normalize_finish_reason(raw.get("finish_reason")),
            index,
            content if isinstance(content, str) else "",
            tuple(calls),
        )
        outputs.append(Output((choice,)))
    return ConverseResponse(tuple(outputs), model=model, usage=parse_usage(doc.get("usage")))


def require_key(metadata: ComponentMetadata) -> str:
    # Dapr always hands the metadata key to its client, so an environment variable cannot stand in.
    key = metadata.get("key") or ""
    if not key:
        raise ComponentConfigError(metadata.name, "key", "is required (the API key)")
    return key


class OpenAIModel(RemoteModel):
    api: JsonAPI
    key: str = ""
    azure_api_version: str = ""

    def configure(self, metadata: ComponentMetadata) -> tuple[str, str, str]:
        """(model, endpoint, key) as Dapr's component resolves them from its metadata."""
        key = require_key(metadata)
        endpoint = metadata.get("endpoint") or ""
        if (metadata.get("apiType") or "").lower() == "azure":
            self.azure_api_version = metadata.get("apiVersion") or ""
            if not endpoint or not self.azure_api_version:
                raise ComponentConfigError(
                    metadata.name,
                    "apiType",
                    "endpoint and apiVersion must be provided when apiType is set to 'azure'",
                )
            return (
                resolve_model("AZURE_OPENAI_MODEL", metadata.get("model"), DEFAULT_AZURE_MODEL),
                endpoint,
                key,
            )
        endpoint = endpoint or os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_BASE") or ""
        return (
            resolve_model("OPENAI_MODEL", metadata.get("model"), DEFAULT_MODEL),
            endpoint or DEFAULT_ENDPOINT,
            key,
        )

    def messages(self, request: ConverseRequest) -> list[dict[str, Any]]:
        return chat_messages(request.messages)

    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        self.model, endpoint, self.key = self.configure(metadata)
        try:
            base = BaseURL.parse(endpoint)
        except ValueError as exc:
            raise ComponentConfigError(metadata.name, "endpoint", str(exc)) from None
        self.api = JsonAPI(base)

    async def complete(self, request: ConverseRequest) -> ConverseResponse:
        body = chat_request(self.model, request, self.messages(request))
        if self.azure_api_version:
            path = f"/openai/deployments/{self.model}/chat/completions?api-version={self.azure_api_version}"
            headers = [("api-key", self.key)]
        else:
            path = "/chat/completions"
            headers = [("authorization", f"Bearer {self.key}")]
        doc = await self.api.post(path, body, headers)
        return parse_chat_response(self.model, doc)

    async def close(self) -> None:
        api = getattr(self, "api", None)
        if api is not None:
            await api.close()
