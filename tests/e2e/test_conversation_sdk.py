"""The conversation API end to end: the official SDK (sync and async) and plain HTTP against a real
sidecar, with echo, a fake OpenAI-compatible and Anthropic server in its own process, an Ollama
component with no server, and the SDK integration suite's echo cases."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from dapr.aio.clients import DaprClient as AsyncDaprClient
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError
from dapr.clients.grpc.conversation import (
    ConversationInput,
    ConversationInputAlpha2,
    ConversationTools,
    ConversationToolsFunction,
    create_assistant_message,
    create_system_message,
    create_tool_message,
    create_user_message,
)

from tests.e2e.harness import Processes, Sidecar, free_port, wait_port

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::UserWarning")]

APPS = Path(__file__).parent / "apps"

COMPONENTS = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: echo
spec:
  type: conversation.echo
  version: v1
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: ollama
spec:
  type: conversation.ollama
  version: v1
  metadata:
    - name: model
      value: llama3.2:latest
    - name: endpoint
      value: http://127.0.0.1:{down}/v1
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: openai
spec:
  type: conversation.openai
  metadata:
    - name: key
      value: sk-test
    - name: model
      value: gpt-4o-mini
    - name: endpoint
      value: http://127.0.0.1:{llm}/v1
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: openai-cached
spec:
  type: conversation.openai
  metadata:
    - name: key
      value: sk-test
    - name: model
      value: cached-model
    - name: endpoint
      value: http://127.0.0.1:{llm}/v1
    - name: cacheTTL
      value: 10m
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: claude
spec:
  type: conversation.anthropic
  metadata:
    - name: key
      value: sk-ant-test
    - name: endpoint
      value: http://127.0.0.1:{llm}/v1
"""


@dataclass
class Env:
    sidecar: Sidecar
    llm_port: int
    down_port: int

    def llm_requests(self, model: str | None = None) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.llm_port}/requests", timeout=5) as resp:
            seen: list[dict[str, Any]] = json.loads(resp.read())
        return [r for r in seen if model is None or r["body"].get("model") == model]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    workdir = tmp_path_factory.mktemp("conversation")
    home = workdir / "home"
    home.mkdir()
    procs = Processes(home=home, workdir=workdir)
    try:
        llm_port, down_port = free_port(), free_port()
        fake = procs.app("fake-llm", APPS / "conversation_fake_llm.py", args=[str(llm_port)])
        wait_port(llm_port, proc=fake)
        resources = workdir / "resources"
        resources.mkdir()
        (resources / "conversation.yaml").write_text(COMPONENTS.format(llm=llm_port, down=down_port))
        yield Env(procs.sidecar("conversation-app", resources=resources), llm_port, down_port)
    finally:
        procs.stop_all()


@pytest.fixture
def client(env: Env, dapr_settings: Any) -> Iterator[DaprClient]:
    dapr_settings(env.sidecar)
    with DaprClient(address=f"127.0.0.1:{env.sidecar.grpc_port}") as c:
        yield c


def _post(sidecar: Sidecar, path: str, body: Any) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(sidecar.url + path, data=data, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# --- the SDK integration suite's echo cases (tests/integration/test_conversation*.py) ----------------


def test_sdk_echo_alpha1(client: DaprClient) -> None:
    response = client.converse_alpha1(
        name="echo", inputs=[ConversationInput(content="sync hello", role="user")]
    )
    assert response.outputs[0].result == "sync hello"
    response = client.converse_alpha1(
        name="echo",
        inputs=[ConversationInput(content="one", role="user"), ConversationInput(content="two", role="user")],
    )
    assert [out.result for out in response.outputs] == ["one\ntwo"]
    response = client.converse_alpha1(
        name="echo", inputs=[ConversationInput(content="warm", role="user")], temperature=0.7
    )
    assert response.outputs[0].result == "warm"


def test_sdk_echo_alpha2(client: DaprClient) -> None:
    response = client.converse_alpha2(
        name="echo", inputs=[ConversationInputAlpha2(messages=[create_user_message("sync world")])]
    )
    assert response.outputs[0].choices[0].message.content == "sync world"
    response = client.converse_alpha2(
        name="echo",
        inputs=[
            ConversationInputAlpha2(
                messages=[
                    create_system_message("be brief"),
                    create_user_message("hi"),
                    create_assistant_message("hello"),
                ]
            )
        ],
        context_id="chat-1",
    )
    choice = response.outputs[0].choices[0]
    assert choice.message.content == "be brief\nhi\nhello"
    assert choice.finish_reason == "stop"
    assert response.context_id == "chat-1"
    usage = response.outputs[0].usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (4, 4, 8)


def test_sdk_async_client(env: Env, dapr_settings: Any) -> None:
    dapr_settings(env.sidecar)

    async def run() -> tuple[str, str]:
        async with AsyncDaprClient(address=f"127.0.0.1:{env.sidecar.grpc_port}") as d:
            a1 = await d.converse_alpha1(
                name="echo", inputs=[ConversationInput(content="async hello", role="user")]
            )
            a2 = await d.converse_alpha2(
                name="echo", inputs=[ConversationInputAlpha2(messages=[create_user_message("async world")])]
            )
        return a1.outputs[0].result, a2.outputs[0].choices[0].message.content

    assert asyncio.run(run()) == ("async hello", "async world")


# --- a real model API (the fake OpenAI-compatible server) ---------------------------------------------

WEATHER = ConversationTools(
    function=ConversationToolsFunction(
        name="get_weather",
        description="Current weather in a city",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    )
)


def test_sdk_openai_tool_call_round_trip_with_usage(env: Env, client: DaprClient) -> None:
    question = create_user_message("What is the weather in Paris?")
    first = client.converse_alpha2(
        name="openai", inputs=[ConversationInputAlpha2(messages=[question])], tools=[WEATHER]
    )
    output = first.outputs[0]
    choice = output.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == (
        "call_1",
        "get_weather",
        {"city": "Paris"},
    )
    assert output.model == "gpt-4o-mini"
    assert output.usage is not None
    assert (output.usage.prompt_tokens, output.usage.completion_tokens, output.usage.total_tokens) == (
        11,
        7,
        18,
    )
    assert output.usage.prompt_tokens_details is not None
    assert output.usage.prompt_tokens_details.cached_tokens == 3
    assert output.usage.completion_tokens_details is not None
    assert output.usage.completion_tokens_details.reasoning_tokens == 2

    history = [
        question,
        *first.to_assistant_messages(),
        create_tool_message(call.id, call.function.name, "sunny"),
    ]
    second = client.converse_alpha2(
        name="openai", inputs=[ConversationInputAlpha2(messages=history)], tools=[WEATHER]
    )
    assert second.outputs[0].choices[0].message.content == "The tool said: sunny"
    assert second.outputs[0].choices[0].finish_reason == "stop"

    sent = env.llm_requests("gpt-4o-mini")[-2:]
    assert sent[0]["headers"]["authorization"] == "Bearer sk-test"
    assert sent[0]["body"]["tool_choice"] == "auto"
    assert sent[0]["body"]["tools"][0]["function"]["name"] == "get_weather"
    assert sent[1]["body"]["messages"][1:] == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]


def test_sdk_scrub_pii_of_inputs_and_of_the_answer(env: Env, client: DaprClient) -> None:
    secret = "mail me at jane@example.com or call +2222222222"
    scrubbed_in = client.converse_alpha2(
        name="openai",
        inputs=[ConversationInputAlpha2(messages=[create_user_message(secret)], scrub_pii=True)],
    )
    assert (
        scrubbed_in.outputs[0].choices[0].message.content
        == "fake: mail me at <EMAIL_ADDRESS> or call <PHONE_NUMBER>"
    )
    assert env.llm_requests("gpt-4o-mini")[-1]["body"]["messages"][0]["content"] == (
        "mail me at <EMAIL_ADDRESS> or call <PHONE_NUMBER>"
    )

    scrubbed_out = client.converse_alpha2(
        name="openai",
        inputs=[ConversationInputAlpha2(messages=[create_user_message(secret)])],
        scrub_pii=True,
    )
    assert (
        scrubbed_out.outputs[0].choices[0].message.content
        == "fake: mail me at <EMAIL_ADDRESS> or call <PHONE_NUMBER>"
    )
    # The model saw the text as sent; only the answer was scrubbed.
    assert env.llm_requests("gpt-4o-mini")[-1]["body"]["messages"][0]["content"] == secret

    alpha1 = client.converse_alpha1(
        name="openai", inputs=[ConversationInput(content="from 10.8.9.1", role="user", scrub_pii=True)]
    )
    assert alpha1.outputs[0].result == "fake: from <IP>"


def test_sdk_cache_ttl_answers_the_second_identical_request_from_cache(env: Env, client: DaprClient) -> None:
    inputs = [ConversationInputAlpha2(messages=[create_user_message("cache me")])]
    first = client.converse_alpha2(name="openai-cached", inputs=inputs, temperature=0.2)
    second = client.converse_alpha2(name="openai-cached", inputs=inputs, temperature=0.2)
    assert first.outputs[0].choices[0].message.content == "fake: cache me"
    assert second.outputs[0].choices[0].message.content == "fake: cache me"
    assert len(env.llm_requests("cached-model")) == 1
    client.converse_alpha2(name="openai-cached", inputs=inputs, temperature=0.3)
    assert len(env.llm_requests("cached-model")) == 2


def test_sdk_model_server_down_is_a_clear_invoke_error(env: Env, client: DaprClient) -> None:
    with pytest.raises(DaprGrpcError) as info:
        client.converse_alpha2(
            name="ollama", inputs=[ConversationInputAlpha2(messages=[create_user_message("x")])]
        )
    err = info.value
    assert err.code() == grpc.StatusCode.INTERNAL
    assert err.error_code() == "ERR_CONVERSATION_INVOKE"
    url = f"http://127.0.0.1:{env.down_port}/v1/chat/completions"
    assert err.details().startswith(
        f'failed conversing with component ollama: Post "{url}": cannot connect to 127.0.0.1:{env.down_port}'
    )
    with pytest.raises(DaprGrpcError) as info:
        client.converse_alpha1(name="ollama", inputs=[ConversationInput(content="x", role="user")])
    assert info.value.error_code() == "ERR_CONVERSATION_INVOKE"


def test_sdk_unknown_component_and_missing_inputs(client: DaprClient) -> None:
    with pytest.raises(DaprGrpcError) as info:
        client.converse_alpha2(
            name="nope", inputs=[ConversationInputAlpha2(messages=[create_user_message("x")])]
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.error_code() == "ERR_CONVERSATION_NOT_FOUND"
    assert info.value.details() == "failed finding conversation component nope"
    with pytest.raises(DaprGrpcError) as info:
        client.converse_alpha1(name="echo", inputs=[])
    assert info.value.error_code() == "ERR_CONVERSATION_MISSING_INPUTS"


def test_sdk_oversized_prompt_is_refused(client: DaprClient) -> None:
    huge = "x" * (5 * 1024 * 1024)  # the sidecar's default --max-body-size is 4Mi
    with pytest.raises(DaprGrpcError) as info:
        client.converse_alpha1(name="echo", inputs=[ConversationInput(content=huge, role="user")])
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


# --- plain HTTP ---------------------------------------------------------------------------------------


def test_http_routes_answer_daprs_json(env: Env) -> None:
    sidecar = env.sidecar
    assert _post(
        sidecar, "/v1.0-alpha1/conversation/echo/converse", {"inputs": [{"content": "well hello there"}]}
    ) == (
        200,
        {"outputs": [{"result": "well hello there"}]},
    )
    body = {
        "inputs": [
            {
                "messages": [{"ofUser": {"content": [{"text": "well hello there from 10.8.9.1"}]}}],
                "scrubPii": True,
            }
        ]
    }
    assert _post(sidecar, "/v1.0-alpha2/conversation/echo/converse", body) == (
        200,
        {
            "outputs": [
                {
                    "choices": [
                        {"finishReason": "stop", "message": {"content": "well hello there from <IP>"}}
                    ],
                    "usage": {"completionTokens": "5", "promptTokens": "5", "totalTokens": "10"},
                }
            ]
        },
    )
    status, got = _post(sidecar, "/v1.0-alpha2/conversation/nope/converse", body)
    assert (status, got) == (
        400,
        {"errorCode": "ERR_CONVERSATION_NOT_FOUND", "message": "failed finding conversation component nope"},
    )
    status, got = _post(
        sidecar, "/v1.0-alpha1/conversation/echo/converse", {"metadata": {"model": "daprGPT"}}
    )
    assert (status, got["errorCode"]) == (400, "ERR_CONVERSATION_MISSING_INPUTS")
    status, got = _post(sidecar, "/v1.0-alpha2/conversation/echo/converse", b"{oops")
    assert (status, got["errorCode"]) == (400, "ERR_MALFORMED_REQUEST")
    status, got = _post(
        sidecar, "/v1.0-alpha1/conversation/echo/converse", {"inputs": [{"content": "x" * (5 << 20)}]}
    )
    assert status == 413


def test_http_anthropic_tool_use(env: Env) -> None:
    body = {
        "inputs": [
            {
                "messages": [
                    {"ofSystem": {"content": [{"text": "be brief"}]}},
                    {"ofUser": {"content": [{"text": "weather?"}]}},
                ]
            }
        ],
        "tools": [
            {
                "function": {
                    "name": "get_weather",
                    "parameters": {"type": "object", "properties": {"city": {}}},
                }
            }
        ],
        "toolChoice": "get_weather",
    }
    status, got = _post(env.sidecar, "/v1.0-alpha2/conversation/claude/converse", body)
    assert status == 200
    assert got["outputs"] == [
        {
            "choices": [
                {
                    "finishReason": "tool_use",
                    "message": {
                        "content": "Let me check.",
                        "toolCalls": [
                            {
                                "id": "toolu_1",
                                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                            }
                        ],
                    },
                }
            ],
            "model": "claude-sonnet-4-20250514",
            "usage": {
                "completionTokens": "5",
                "promptTokens": "12",
                "totalTokens": "17",
                "promptTokensDetails": {"cachedTokens": "4"},
            },
        }
    ]
    sent = env.llm_requests("claude-sonnet-4-20250514")[-1]
    assert sent["path"] == "/v1/messages"
    assert sent["body"]["system"] == "be brief"
    assert sent["body"]["tool_choice"] == {"type": "tool", "name": "get_weather"}


def test_metadata_lists_the_conversation_components(env: Env) -> None:
    with urllib.request.urlopen(env.sidecar.url + "/v1.0/metadata", timeout=5) as resp:
        meta = json.loads(resp.read())
    listed = {(c["name"], c["type"]) for c in meta["components"]}
    assert listed >= {
        ("echo", "conversation.echo"),
        ("ollama", "conversation.ollama"),
        ("openai", "conversation.openai"),
        ("openai-cached", "conversation.openai"),
        ("claude", "conversation.anthropic"),
    }
