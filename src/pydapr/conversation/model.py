"""What a conversation component is asked and what it answers, free of any wire format.

A request is a list of messages, each a role and its parts (text, a tool call the model made earlier,
or the result of running a tool), plus the tools the model may call and the generation options.
An answer is a list of outputs, each with its choices, and the token usage of the whole call.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Role(enum.StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call the model asks the caller to run; ``arguments`` is the model's JSON text."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What running a tool returned, sent back to the model in a later turn."""

    tool_call_id: str
    name: str
    content: str


Part = Text | ToolCall | ToolResult


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    parts: tuple[Part, ...]

    @property
    def texts(self) -> list[str]:
        return [p.text for p in self.parts if isinstance(p, Text)]

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [p for p in self.parts if isinstance(p, ToolCall)]

    @property
    def tool_results(self) -> list[ToolResult]:
        return [p for p in self.parts if isinstance(p, ToolResult)]


@dataclass(frozen=True, slots=True)
class Tool:
    """A function the model may call; ``parameters`` is its JSON schema."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConverseRequest:
    messages: tuple[Message, ...]
    tools: tuple[Tool, ...] = ()
    # "auto", "none", "required" or a tool's name; None when the caller gave none and there are no tools.
    tool_choice: str | None = None
    temperature: float = 0.0
    # Passed to the model as its request metadata (OpenAI's ``metadata``), not component metadata.
    metadata: Mapping[str, str] = field(default_factory=dict)
    # A JSON schema the answer must follow (structured output).
    response_format: Mapping[str, Any] | None = None
    prompt_cache_retention_seconds: float | None = None
    max_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class CompletionTokensDetails:
    accepted_prediction_tokens: int = 0
    audio_tokens: int = 0
    reasoning_tokens: int = 0
    rejected_prediction_tokens: int = 0


@dataclass(frozen=True, slots=True)
class PromptTokensDetails:
    audio_tokens: int = 0
    cached_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Usage:
    completion_tokens: int = 0
    prompt_tokens: int = 0
    total_tokens: int = 0
    completion_details: CompletionTokensDetails | None = None
    prompt_details: PromptTokensDetails | None = None


@dataclass(frozen=True, slots=True)
class Choice:
    finish_reason: str
    index: int = 0
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True, slots=True)
class Output:
    choices: tuple[Choice, ...]


@dataclass(frozen=True, slots=True)
class ConverseResponse:
    outputs: tuple[Output, ...]
    model: str = ""
    usage: Usage | None = None


def normalize_finish_reason(reason: str | None) -> str:
    """Some backends (Ollama) give no finish reason; Dapr reports ``unknown`` then."""
    return reason or "unknown"
