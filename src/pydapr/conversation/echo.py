"""``conversation.echo``: answers with what it was sent, for tests (components-contrib conversation/echo).

All the request's text parts become one choice, joined with newlines; tool results read back as
``Tool Response for tool ID '<id>' with name '<name>': <content>``. Every tool offered gets a call
(id = its position, arguments = its parameter names, sorted and comma-joined), as do the tool calls
of assistant messages; any tool call makes the finish reason ``tool_calls``, else ``stop``. Usage
counts the answer's words, for prompt and completion alike.
"""

from __future__ import annotations

from pydapr.conversation.contract import ConversationModel
from pydapr.conversation.model import (
    Choice,
    ConverseRequest,
    ConverseResponse,
    Output,
    Text,
    ToolCall,
    ToolResult,
    Usage,
)


class EchoModel(ConversationModel):
    async def converse(self, request: ConverseRequest) -> ConverseResponse:
        calls: list[ToolCall] = []
        for index, tool in enumerate(request.tools):
            properties = tool.parameters.get("properties")
            if properties is not None and not isinstance(properties, dict):
                raise ValueError(f"tool function properties must be a map, got {type(properties).__name__}")
            names = sorted(properties) if properties else []
            calls.append(ToolCall(str(index), tool.name, ",".join(names)))
        texts: list[str] = []
        for message in request.messages:
            for part in message.parts:
                if isinstance(part, Text):
                    texts.append(part.text)
                elif isinstance(part, ToolCall):
                    calls.append(part)
                elif isinstance(part, ToolResult):
                    who = f"tool ID '{part.tool_call_id}' with name '{part.name}'"
                    texts.append(f"Tool Response for {who}: {part.content}")
        content = "\n".join(texts)
        reason = "tool_calls" if calls else "stop"
        words = len(content.split())
        return ConverseResponse(
            outputs=(Output((Choice(reason, 0, content, tuple(calls)),)),),
            usage=Usage(completion_tokens=words, prompt_tokens=words, total_tokens=2 * words),
        )
