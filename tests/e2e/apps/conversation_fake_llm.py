"""A fake model server speaking OpenAI's Chat Completions (also Ollama's and Azure's paths) and
Anthropic's Messages API, with canned answers, recording every request it gets.

Answers: the last message is a tool result -> "The tool said: <result>"; tools offered (and the
choice is not "none") -> a call of the first tool with ``{"city": "Paris"}``; otherwise
``fake: <last text>``. Model ``broken`` answers 500 with an API error. ``GET /requests`` lists what
was received (path, query, headers, JSON body); ``DELETE /requests`` forgets it.

Run as ``python conversation_fake_llm.py PORT``; tests import ``build_app`` to serve it in-process.
"""

from __future__ import annotations

import sys
from typing import Any

from aiohttp import web

USAGE = {
    "prompt_tokens": 11,
    "completion_tokens": 7,
    "total_tokens": 18,
    "prompt_tokens_details": {"cached_tokens": 3, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 2, "audio_tokens": 0},
}
ANTHROPIC_KEY = "sk-ant-test"
REQUESTS = web.AppKey("requests", list[dict[str, Any]])


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


async def _record(request: web.Request) -> Any:
    body = await request.json()
    request.app[REQUESTS].append(
        {
            "path": request.path,
            "query": dict(request.query),
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "body": body,
        }
    )
    return body


async def chat_completions(request: web.Request) -> web.Response:
    body = await _record(request)
    if body.get("model") == "broken":
        return web.json_response(
            {"error": {"message": "the model is on fire", "type": "server_error"}}, status=500
        )
    if (
        not request.headers.get("authorization", "").startswith("Bearer ")
        and "api-key" not in request.headers
    ):
        return web.json_response({"error": {"message": "no key"}}, status=401)
    last = body["messages"][-1]
    message: dict[str, Any]
    if last["role"] == "tool":
        message = {"role": "assistant", "content": f"The tool said: {_text(last['content'])}"}
        reason = "stop"
    elif body.get("tools") and body.get("tool_choice") != "none":
        name = body["tools"][0]["function"]["name"]
        call = {
            "id": "call_1",
            "type": "function",
            "function": {"name": name, "arguments": '{"city": "Paris"}'},
        }
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        reason = "tool_calls"
    else:
        message = {"role": "assistant", "content": f"fake: {_text(last['content'])}"}
        reason = "stop"
    return web.json_response(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": body.get("model"),
            "choices": [{"index": 0, "message": message, "finish_reason": reason}],
            "usage": USAGE,
        }
    )


async def messages(request: web.Request) -> web.Response:
    body = await _record(request)
    if request.headers.get("x-api-key") != ANTHROPIC_KEY:
        return web.json_response(
            {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}},
            status=401,
        )
    last = body["messages"][-1]
    blocks = (
        last["content"] if isinstance(last["content"], list) else [{"type": "text", "text": last["content"]}]
    )
    results = [b for b in blocks if b.get("type") == "tool_result"]
    content: list[dict[str, Any]]
    if results:
        content = [{"type": "text", "text": f"The tool said: {results[0]['content']}"}]
        reason = "end_turn"
    elif body.get("tools"):
        name = body["tools"][0]["name"]
        content = [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_1", "name": name, "input": {"city": "Paris"}},
        ]
        reason = "tool_use"
    else:
        system = f"({body['system']})" if body.get("system") else ""
        content = [{"type": "text", "text": f"fake{system}: {_text(blocks)}"}]
        reason = "end_turn"
    return web.json_response(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": content,
            "stop_reason": reason,
            "usage": {"input_tokens": 12, "output_tokens": 5, "cache_read_input_tokens": 4},
        }
    )


async def list_requests(request: web.Request) -> web.Response:
    return web.json_response(request.app[REQUESTS])


async def forget_requests(request: web.Request) -> web.Response:
    request.app[REQUESTS].clear()
    return web.Response(status=204)


def build_app() -> web.Application:
    app = web.Application()
    app[REQUESTS] = []
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/openai/deployments/{model}/chat/completions", chat_completions)
    app.router.add_post("/v1/messages", messages)
    app.router.add_get("/requests", list_requests)
    app.router.add_delete("/requests", forget_requests)
    return app


if __name__ == "__main__":
    web.run_app(
        build_app(), host="127.0.0.1", port=int(sys.argv[1]), print=lambda *_: print("ready", flush=True)
    )
