"""Requests and answers through the conversation API and its HTTP mapping, against the echo model:
the JSON daprd's own integration tests expect, Dapr's validation errors, PII scrubbing in and out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pydapr.api.http import conversation as http_conversation
from pydapr.api.http.router import Router
from pydapr.conversation.api import ConversationAPI
from pydapr.conversation.contract import ConversationModel
from pydapr.conversation.echo import EchoModel
from pydapr.conversation.model import ConverseRequest, ConverseResponse, Role, Text, ToolCall, ToolResult
from pydapr.errors import DaprError
from pydapr.http.messages import Request


class Recorder(ConversationModel):
    """Answers like echo and keeps what it was asked."""

    def __init__(self) -> None:
        self.seen: list[ConverseRequest] = []

    async def converse(self, request: ConverseRequest) -> ConverseResponse:
        self.seen.append(request)
        return await EchoModel().converse(request)


class Failing(ConversationModel):
    async def converse(self, request: ConverseRequest) -> ConverseResponse:
        raise ConnectionError('Post "http://127.0.0.1:9/v1/chat/completions": connection refused')


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def router(recorder: Recorder) -> Router:
    r = Router()
    api = ConversationAPI({"echo": recorder, "down": Failing()})
    http_conversation.register(r, lambda: api)
    return r


async def post(router: Router, path: str, body: Any) -> tuple[int, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    found = router.match("POST", path)
    assert found is not None, path
    handler, params = found
    try:
        resp = await handler(Request("POST", path, body=raw), params)
    except DaprError as err:
        return err.http_status, json.loads(err.http_body())
    return resp.status, json.loads(resp.body)


A1 = "/v1.0-alpha1/conversation/{}/converse"
A2 = "/v1.0-alpha2/conversation/{}/converse"


def user(text: str) -> dict[str, Any]:
    return {"ofUser": {"content": [{"text": text}]}}


async def test_alpha1_joins_inputs_into_one_result_and_returns_parameters(router: Router) -> None:
    params = {"model": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": "m"}}
    body = {"contextID": "ctx", "inputs": [{"content": "one"}, {"content": "two"}], "parameters": params}
    assert await post(router, A1.format("echo"), body) == (
        200,
        {"contextID": "ctx", "outputs": [{"result": "one\ntwo", "parameters": params}]},
    )


async def test_alpha1_roles_and_temperature_reach_the_model(router: Router, recorder: Recorder) -> None:
    body = {
        "inputs": [{"content": "be brief", "role": "system"}, {"content": "q", "role": "human"}],
        "temperature": 0.25,
    }
    await post(router, A1.format("echo"), body)
    request = recorder.seen[-1]
    assert [m.role for m in request.messages] == [Role.SYSTEM, Role.USER]
    assert request.temperature == 0.25


async def test_alpha2_all_fields_as_daprd_answers(router: Router, recorder: Recorder) -> None:
    """The request and expected answer of dapr/dapr's alpha2 http/basic.go "all fields" case."""
    body = {
        "contextId": "test-conversation-123",
        "inputs": [
            {"messages": [{"ofUser": {"name": "test-user", "content": [{"text": "well hello there"}]}}]},
            {
                "messages": [{"ofSystem": {"content": [{"text": "You are a helpful assistant"}]}}],
                "scrubPII": True,
            },
        ],
        "metadata": {"api_key": "test-key"},
        "scrubPii": True,
        "temperature": 0.7,
        "responseFormat": {"type": "object", "properties": {"result": {"type": "string"}}},
        "promptCacheRetention": "86400s",
        "tools": [
            {
                "function": {
                    "name": "test_function",
                    "description": "A test function",
                    "parameters": {
                        "type": "object",
                        "properties": {"param1": {"type": "string"}},
                        "required": ["param1"],
                    },
                }
            }
        ],
        "toolChoice": "auto",
    }
    status, got = await post(router, A2.format("echo"), body)
    assert status == 200
    assert got == {
        "contextId": "test-conversation-123",
        "outputs": [
            {
                "choices": [
                    {
                        "finishReason": "tool_calls",
                        "message": {
                            "content": "well hello there\nYou are a helpful assistant",
                            "toolCalls": [
                                {"id": "0", "function": {"name": "test_function", "arguments": "param1"}}
                            ],
                        },
                    }
                ],
                "usage": {"completionTokens": "8", "promptTokens": "8", "totalTokens": "16"},
            }
        ],
    }
    request = recorder.seen[-1]
    assert request.tool_choice == "auto"
    assert request.metadata == {"api_key": "test-key"}
    assert request.response_format == {"type": "object", "properties": {"result": {"type": "string"}}}
    assert request.prompt_cache_retention_seconds == 86400.0
    assert request.temperature == 0.7


async def test_alpha2_message_kinds_map_to_roles_and_parts(router: Router, recorder: Recorder) -> None:
    call = {"id": "call_123", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
    body = {
        "inputs": [
            {
                "messages": [
                    {"ofDeveloper": {"content": [{"text": "dev"}]}},
                    {"ofSystem": {"content": [{"text": "sys"}]}},
                    user("usr"),
                    {"ofAssistant": {"content": [{"text": "asst"}], "toolCalls": [call]}},
                    {"ofTool": {"toolId": "call_123", "name": "get_weather", "content": [{"text": "sunny"}]}},
                ]
            }
        ]
    }
    status, got = await post(router, A2.format("echo"), body)
    assert status == 200
    choice = got["outputs"][0]["choices"][0]
    assert choice["message"]["content"] == (
        "dev\nsys\nusr\nasst\nTool Response for tool ID 'call_123' with name 'get_weather': sunny"
    )
    assert choice["message"]["toolCalls"] == [call]
    assert choice["finishReason"] == "tool_calls"
    messages = recorder.seen[-1].messages
    assert [m.role for m in messages] == [Role.USER, Role.SYSTEM, Role.USER, Role.ASSISTANT, Role.TOOL]
    assert messages[3].parts == (Text("asst"), ToolCall("call_123", "get_weather", '{"city":"Paris"}'))
    assert messages[4].parts == (ToolResult("call_123", "get_weather", "sunny"),)


async def test_scrub_pii_on_an_input_scrubs_what_the_model_sees(router: Router, recorder: Recorder) -> None:
    body = {"inputs": [{"messages": [user("my email is test@test.com")], "scrubPii": True}]}
    status, got = await post(router, A2.format("echo"), body)
    assert status == 200
    assert recorder.seen[-1].messages[0].parts == (Text("my email is <EMAIL_ADDRESS>"),)
    assert got["outputs"][0]["choices"][0]["message"]["content"] == "my email is <EMAIL_ADDRESS>"
    a1 = {"inputs": [{"content": "call +2222222222", "scrubPII": True}]}
    assert await post(router, A1.format("echo"), a1) == (
        200,
        {"outputs": [{"result": "call <PHONE_NUMBER>"}]},
    )


async def test_scrub_pii_on_the_request_scrubs_the_answer(router: Router, recorder: Recorder) -> None:
    body = {"inputs": [{"messages": [user("from 10.8.9.1")]}], "scrubPii": True}
    status, got = await post(router, A2.format("echo"), body)
    assert status == 200
    assert recorder.seen[-1].messages[0].parts == (Text("from 10.8.9.1"),)
    assert got["outputs"][0]["choices"][0]["message"]["content"] == "from <IP>"
    a1 = {"inputs": [{"content": "mail a@b.io"}], "scrubPII": True}
    assert await post(router, A1.format("echo"), a1) == (
        200,
        {"outputs": [{"result": "mail <EMAIL_ADDRESS>"}]},
    )


@pytest.mark.parametrize(
    ("path", "body", "status", "code", "message"),
    [
        (
            A2.format("nope"),
            {"inputs": [{"messages": [user("x")]}]},
            400,
            "ERR_CONVERSATION_NOT_FOUND",
            "failed finding conversation component nope",
        ),
        (
            A1.format("nope"),
            {"inputs": [{"content": "x"}]},
            400,
            "ERR_CONVERSATION_NOT_FOUND",
            "failed finding conversation component nope",
        ),
        (
            A1.format("echo"),
            {"metadata": {"model": "daprGPT"}},
            400,
            "ERR_CONVERSATION_MISSING_INPUTS",
            "failed conversing with component echo: missing inputs in request",
        ),
        (
            A2.format("echo"),
            {},
            400,
            "ERR_CONVERSATION_MISSING_INPUTS",
            "failed conversing with component echo: missing inputs in request",
        ),
        (
            A2.format("echo"),
            {"inputs": [{"messages": [{"invalidField": {"content": "invalid"}}]}]},
            400,
            "ERR_CONVERSATION_INVALID_PARMS",
            "failed conversing with component echo: invalid params: message type cannot be nil",
        ),
        (
            A2.format("echo"),
            {"inputs": [{"messages": [{"ofAssistant": {"toolCalls": [{"id": "call_1"}]}}]}]},
            400,
            "ERR_CONVERSATION_INVALID_PARMS",
            "failed conversing with component echo: invalid params: tool types cannot be nil",
        ),
        (
            A2.format("echo"),
            {"inputs": [{"messages": [user("x")]}], "toolChoice": "required"},
            400,
            "ERR_CONVERSATION_INVALID_PARMS",
            "failed conversing with component echo: invalid params: tool choice must be 'auto', 'none', "
            "'required', or a specific tool name matching the tools available to be used",
        ),
        (
            A2.format("echo"),
            {
                "inputs": [{"messages": [user("x")]}],
                "toolChoice": "other",
                "tools": [{"function": {"name": "f"}}],
            },
            400,
            "ERR_CONVERSATION_INVALID_PARMS",
            "failed conversing with component echo: invalid params: tool choice selected was not found. "
            "Must be 'auto', 'none', 'required', or a specific tool name matching the tools available "
            "to be used",
        ),
        (
            A2.format("down"),
            {"inputs": [{"messages": [user("x")]}]},
            500,
            "ERR_CONVERSATION_INVOKE",
            'failed conversing with component down: Post "http://127.0.0.1:9/v1/chat/completions": '
            "connection refused",
        ),
        (
            A1.format("down"),
            {"inputs": [{"content": "x"}]},
            500,
            "ERR_CONVERSATION_INVOKE",
            'failed conversing with component down: Post "http://127.0.0.1:9/v1/chat/completions": '
            "connection refused",
        ),
    ],
)
async def test_errors_as_daprd_returns_them(
    router: Router, path: str, body: Any, status: int, code: str, message: str
) -> None:
    assert await post(router, path, body) == (status, {"errorCode": code, "message": message})


async def test_a_body_that_is_not_the_requests_json_is_malformed(router: Router) -> None:
    status, got = await post(router, A2.format("echo"), b"{not json")
    assert (status, got["errorCode"]) == (400, "ERR_MALFORMED_REQUEST")
    status, got = await post(router, A2.format("echo"), {"inputs": "nope"})
    assert (status, got["errorCode"]) == (400, "ERR_MALFORMED_REQUEST")


@pytest.mark.parametrize(
    ("seconds", "nanos", "expected"),
    [
        (86400, 500_000_000, 86400.5),
        # Found by tests/fuzz/test_grpc_fuzz.py: past timedelta's range the request failed with an
        # OverflowError (500 INTERNAL); daprd's AsDuration saturates at Go's time.Duration range.
        (2**63 - 1, 999_999_999, (2**63 - 1) / 1e9),
        (-(2**63), -999_999_999, -(2**63) / 1e9),
    ],
)
def test_alpha2_prompt_cache_retention_saturates_as_daprd(seconds: int, nanos: int, expected: float) -> None:
    from pydapr.api.grpc import conversation as mapping
    from pydapr.api.grpc.wire import runtime

    msg = runtime.ConversationRequestAlpha2(name="echo")
    msg.prompt_cache_retention.seconds = seconds
    msg.prompt_cache_retention.nanos = nanos
    assert mapping.alpha2_request(msg).prompt_cache_retention_seconds == pytest.approx(expected)
