"""The other providers Dapr reaches through an OpenAI-compatible API, as components-contrib does:
``conversation.deepseek``, ``conversation.googleai``, ``conversation.huggingface`` and
``conversation.mistral``. Each differs from ``conversation.openai`` only in its defaults (and
Mistral in how earlier tool calls are written back into the conversation).

All require ``key``. ``endpoint`` overrides the provider's URL (for GoogleAI and Mistral this is a
pydapr extension; Dapr always uses the public endpoint); ``cacheTTL`` works for all of them.
"""

from __future__ import annotations

from typing import Any

from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.conversation.contract import resolve_model
from pydapr.conversation.model import ConverseRequest, Message, Role, Text
from pydapr.conversation.openai import OpenAIModel, chat_messages, require_key


class DeepSeekModel(OpenAIModel):
    def configure(self, metadata: ComponentMetadata) -> tuple[str, str, str]:
        key = require_key(metadata)
        return (
            metadata.get("model") or "deepseek-chat",
            metadata.get("endpoint") or "https://api.deepseek.com",
            key,
        )


class GoogleAIModel(OpenAIModel):
    def configure(self, metadata: ComponentMetadata) -> tuple[str, str, str]:
        key = require_key(metadata)
        model = resolve_model("GOOGLEAI_MODEL", metadata.get("model"), "gemini-2.5-flash-lite")
        endpoint = metadata.get("endpoint") or "https://generativelanguage.googleapis.com/v1beta/openai"
        return model, endpoint, key


class HuggingFaceModel(OpenAIModel):
    def configure(self, metadata: ComponentMetadata) -> tuple[str, str, str]:
        key = require_key(metadata)
        model = resolve_model(
            "HUGGINGFACE_MODEL", metadata.get("model"), "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B"
        )
        endpoint = metadata.get("endpoint") or f"https://router.huggingface.co/hf-inference/models/{model}/v1"
        return model, endpoint, key


class MistralModel(OpenAIModel):
    def configure(self, metadata: ComponentMetadata) -> tuple[str, str, str]:
        key = metadata.get("key") or ""
        if not key:
            raise ComponentConfigError(metadata.name, "key", "mistral api key is required")
        model = resolve_model("MISTRAL_MODEL", metadata.get("model"), "open-mistral-7b")
        return model, metadata.get("endpoint") or "https://api.mistral.ai/v1", key

    def messages(self, request: ConverseRequest) -> list[dict[str, Any]]:
        # Dapr writes earlier tool calls and tool results into Mistral conversations as text: an
        # assistant's "Tool call [ID: x]: name(args)" and a user's "Tool response [ID: x, Name: n]: ...".
        rewritten: list[Message] = []
        for msg in request.messages:
            if msg.role is Role.TOOL and msg.tool_results:
                first = msg.tool_results[0]
                contents = "\n".join(r.content for r in msg.tool_results)
                text = f"Tool response [ID: {first.tool_call_id}, Name: {first.name}]: {contents}"
                rewritten.append(Message(Role.USER, (Text(text),)))
            elif msg.tool_calls:
                parts = [Text(t) for t in msg.texts]
                parts += [Text(f"Tool call [ID: {c.id}]: {c.name}({c.arguments})") for c in msg.tool_calls]
                rewritten.append(Message(msg.role, tuple(parts)))
            else:
                rewritten.append(msg)
        return chat_messages(tuple(rewritten))
