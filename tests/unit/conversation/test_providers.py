"""The OpenAI, Ollama and Anthropic components against a real HTTP server speaking those APIs:
what they send, how they read the answer, caching, and how they fail."""

from __future__ import annotations

import pytest

from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.conversation._upstream import ModelAPIError
from pydapr.conversation.anthropic import AnthropicModel
from pydapr.conversation.compatible import DeepSeekModel, GoogleAIModel, HuggingFaceModel, MistralModel
from pydapr.conversation.contract import ConversationModel, RemoteModel
from pydapr.conversation.model import (
    Choice,
    CompletionTokensDetails,
    ConverseRequest,
    Message,
    PromptTokensDetails,
    Role,
    Text,
    Tool,
    ToolCall,
    ToolResult,
    Usage,
)
from pydapr.conversation.ollama import OllamaModel
from pydapr.conversation.openai import OpenAIModel
from tests.e2e.harness import free_port
from tests.unit.conversation.conftest import FakeLLM

WEATHER = Tool(
    "get_weather",
    "Weather in a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def _meta(type_name: str, **props: str) -> ComponentMetadata:
    return ComponentMetadata(name="llm", type=type_name, version="v1", properties=props)


async def _model(cls: type[RemoteModel], type_name: str, **props: str) -> RemoteModel:
    model = cls()
    await model.init(_meta(type_name, **props))
    return model


def _ask(*messages: Message, **options: object) -> ConverseRequest:
    return ConverseRequest(messages, **options)  # type: ignore[arg-type]


def user(text: str) -> Message:
    return Message(Role.USER, (Text(text),))


@pytest.fixture(autouse=True)
def _no_model_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_MODEL", "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE", "OLLAMA_MODEL"):
        monkeypatch.delenv(var, raising=False)
    for var in ("ANTHROPIC_MODEL", "ANTHROPIC_API_KEY", "AZURE_OPENAI_MODEL"):
        monkeypatch.delenv(var, raising=False)


async def test_openai_request_shape_and_answer(fake_llm: FakeLLM) -> None:
    model = await _model(
        OpenAIModel, "conversation.openai", key="sk-test", model="gpt-4o-mini", endpoint=f"{fake_llm.url}/v1/"
    )
    try:
        answer = await model.converse(
            _ask(Message(Role.SYSTEM, (Text("be brief"),)), user("hello"), temperature=0.3, max_tokens=50)
        )
    finally:
        await model.close()
    [sent] = fake_llm.requests
    assert sent["path"] == "/v1/chat/completions"
    assert sent["headers"]["authorization"] == "Bearer sk-test"
    assert sent["body"] == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}],
        "temperature": 0.3,
        "max_completion_tokens": 50,
    }
    assert answer.model == "gpt-4o-mini"
    assert [o.choices for o in answer.outputs] == [(Choice("stop", 0, "fake: hello"),)]
    assert answer.usage == Usage(
        completion_tokens=7,
        prompt_tokens=11,
        total_tokens=18,
        completion_details=CompletionTokensDetails(reasoning_tokens=2),
        prompt_details=PromptTokensDetails(cached_tokens=3),
    )


async def test_openai_tool_call_round_trip(fake_llm: FakeLLM) -> None:
    model = await _model(
        OpenAIModel, "conversation.openai", key="k", model="gpt-4o", endpoint=f"{fake_llm.url}/v1"
    )
    try:
        first = await model.converse(
            _ask(user("weather in Paris?"), tools=(WEATHER,), tool_choice="get_weather")
        )
        [choice] = first.outputs[0].choices
        assert choice.finish_reason == "tool_calls"
        assert choice.tool_calls == (ToolCall("call_1", "get_weather", '{"city": "Paris"}'),)
        second = await model.converse(
            _ask(
                user("weather in Paris?"),
                Message(Role.ASSISTANT, choice.tool_calls),
                Message(Role.TOOL, (ToolResult("call_1", "get_weather", "sunny, 21C"),)),
                tools=(WEATHER,),
            )
        )
    finally:
        await model.close()
    assert second.outputs[0].choices[0].content == "The tool said: sunny, 21C"
    first_body, second_body = (r["body"] for r in fake_llm.requests)
    assert first_body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather in a city",
                "parameters": WEATHER.parameters,
            },
        }
    ]
    # A tool's name as the choice takes OpenAI's object form.
    assert first_body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert second_body["messages"][1:] == [
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
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21C"},
    ]


async def test_openai_options_structured_output_metadata_and_reasoning_models(fake_llm: FakeLLM) -> None:
    model = await _model(
        OpenAIModel, "conversation.openai", key="k", model="gpt-5-nano", endpoint=f"{fake_llm.url}/v1"
    )
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    try:
        await model.converse(
            _ask(
                user("q"),
                temperature=0.9,
                metadata={"team": "a"},
                response_format=schema,
                prompt_cache_retention_seconds=86400.0,
            )
        )
    finally:
        await model.close()
    body = fake_llm.requests[0]["body"]
    assert "temperature" not in body  # gpt-5 models take no temperature
    assert body["metadata"] == {"team": "a"}
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "strict": False, "schema": schema},
    }
    assert body["prompt_cache_retention"] == "24h"


async def test_azure_openai_deployment_url_and_api_key_header(fake_llm: FakeLLM) -> None:
    model = await _model(
        OpenAIModel,
        "conversation.openai",
        key="azure-key",
        model="my-deployment",
        apiType="azure",
        endpoint=fake_llm.url,
        apiVersion="2025-01-01-preview",
    )
    try:
        await model.converse(_ask(user("hi")))
    finally:
        await model.close()
    [sent] = fake_llm.requests
    assert sent["path"] == "/openai/deployments/my-deployment/chat/completions"
    assert sent["query"] == {"api-version": "2025-01-01-preview"}
    assert sent["headers"]["api-key"] == "azure-key"
    assert "authorization" not in sent["headers"]


async def test_cache_ttl_answers_an_identical_request_without_calling_the_model(fake_llm: FakeLLM) -> None:
    model = await _model(
        OpenAIModel,
        "conversation.openai",
        key="k",
        model="gpt-4o",
        endpoint=f"{fake_llm.url}/v1",
        cacheTTL="10m",
    )
    try:
        first = await model.converse(_ask(user("same")))
        again = await model.converse(_ask(user("same")))
        other = await model.converse(_ask(user("same"), temperature=0.5))
    finally:
        await model.close()
    assert first == again
    assert other.outputs[0].choices[0].content == "fake: same"
    assert len(fake_llm.requests) == 2


async def test_model_api_errors_carry_the_status_and_the_apis_message(fake_llm: FakeLLM) -> None:
    model = await _model(
        OpenAIModel, "conversation.openai", key="k", model="broken", endpoint=f"{fake_llm.url}/v1"
    )
    try:
        with pytest.raises(
            ModelAPIError, match=r"^API returned unexpected status code: 500: the model is on fire$"
        ):
            await model.converse(_ask(user("hi")))
    finally:
        await model.close()


async def test_server_down_fails_per_request_with_the_url() -> None:
    port = free_port()
    model = await _model(OllamaModel, "conversation.ollama", endpoint=f"http://127.0.0.1:{port}/v1")
    try:
        with pytest.raises(
            ModelAPIError, match=rf'^Post "http://127.0.0.1:{port}/v1/chat/completions": cannot connect'
        ):
            await model.converse(_ask(user("hi")))
    finally:
        await model.close()


async def test_ollama_defaults_and_its_openai_compatible_api(
    fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = await _model(OllamaModel, "conversation.ollama")
    assert (default.model, str(default.api.base)) == ("llama3.2:latest", "http://localhost:11434/v1")  # type: ignore[attr-defined]
    await default.close()
    monkeypatch.setenv("OLLAMA_MODEL", "qwen3:0.6b")  # Dapr: the environment wins over metadata
    model = await _model(
        OllamaModel, "conversation.ollama", model="llama3.2:latest", endpoint=f"{fake_llm.url}/v1"
    )
    try:
        answer = await model.converse(_ask(user("hi"), tools=(WEATHER,)))
    finally:
        await model.close()
    [sent] = fake_llm.requests
    assert sent["body"]["model"] == "qwen3:0.6b"
    assert sent["headers"]["authorization"] == "Bearer ollama"
    assert answer.outputs[0].choices[0].tool_calls == (
        ToolCall("call_1", "get_weather", '{"city": "Paris"}'),
    )


async def test_anthropic_messages_api_request_and_answer(fake_llm: FakeLLM) -> None:
    model = await _model(
        AnthropicModel, "conversation.anthropic", key="sk-ant-test", endpoint=f"{fake_llm.url}/v1"
    )
    try:
        plain = await model.converse(_ask(Message(Role.SYSTEM, (Text("be brief"),)), user("hello")))
        tool = await model.converse(_ask(user("weather?"), tools=(WEATHER,), tool_choice="required"))
        call = tool.outputs[0].choices[0].tool_calls[0]
        done = await model.converse(
            _ask(
                user("weather?"),
                Message(Role.ASSISTANT, (Text("Let me check."), call)),
                Message(Role.TOOL, (ToolResult(call.id, call.name, "sunny"),)),
                tools=(WEATHER,),
            )
        )
    finally:
        await model.close()
    assert plain.model == "claude-sonnet-4-20250514"
    assert plain.outputs[0].choices == (Choice("end_turn", 0, "fake(be brief): hello"),)
    assert plain.usage == Usage(5, 12, 17, prompt_details=PromptTokensDetails(cached_tokens=4))
    assert tool.outputs[0].choices == (
        Choice("tool_use", 0, "Let me check.", (ToolCall("toolu_1", "get_weather", '{"city":"Paris"}'),)),
    )
    assert done.outputs[0].choices[0].content == "The tool said: sunny"
    first, second, third = fake_llm.requests
    assert first["path"] == "/v1/messages"
    assert first["headers"]["x-api-key"] == "sk-ant-test"
    assert first["headers"]["anthropic-version"] == "2023-06-01"
    assert first["body"] == {
        "model": "claude-sonnet-4-20250514",
        "system": "be brief",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hello"}]}],
        "max_tokens": 2048,
        "temperature": 0.0,
    }
    assert second["body"]["tools"] == [
        {"name": "get_weather", "description": "Weather in a city", "input_schema": WEATHER.parameters}
    ]
    assert second["body"]["tool_choice"] == {"type": "any"}
    assert third["body"]["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]},
    ]
    assert "tool_choice" not in third["body"]  # auto is Anthropic's default


async def test_anthropic_rejected_key_is_a_clear_error(fake_llm: FakeLLM) -> None:
    model = await _model(AnthropicModel, "conversation.anthropic", key="wrong", endpoint=f"{fake_llm.url}/v1")
    try:
        with pytest.raises(
            ModelAPIError, match=r"^API returned unexpected status code: 401: invalid x-api-key$"
        ):
            await model.converse(_ask(user("hi")))
    finally:
        await model.close()


@pytest.mark.parametrize(
    ("cls", "type_name", "props", "problem"),
    [
        (OpenAIModel, "conversation.openai", {}, "metadata.key: is required"),
        (OpenAIModel, "conversation.openai", {"key": "k", "apiType": "azure"}, "endpoint and apiVersion"),
        (OpenAIModel, "conversation.openai", {"key": "k", "endpoint": "ftp://x"}, "not an http"),
        (AnthropicModel, "conversation.anthropic", {}, "metadata.key: is required"),
        (AnthropicModel, "conversation.anthropic", {"key": "k", "apiType": "foundry"}, "endpoint must be"),
        (OllamaModel, "conversation.ollama", {"cacheTTL": "soon"}, "invalid duration"),
    ],
)
async def test_bad_metadata_fails_init(
    cls: type[RemoteModel], type_name: str, props: dict[str, str], problem: str
) -> None:
    with pytest.raises(ComponentConfigError, match=problem):
        await _model(cls, type_name, **props)


@pytest.mark.parametrize(
    ("cls", "type_name", "model", "endpoint"),
    [
        (DeepSeekModel, "conversation.deepseek", "deepseek-chat", "https://api.deepseek.com:443"),
        (
            GoogleAIModel,
            "conversation.googleai",
            "gemini-2.5-flash-lite",
            "https://generativelanguage.googleapis.com:443/v1beta/openai",
        ),
        (
            HuggingFaceModel,
            "conversation.huggingface",
            "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B",
            "https://router.huggingface.co:443/hf-inference/models/deepseek-ai/DeepSeek-R1-Distill-Qwen-32B/v1",
        ),
        (MistralModel, "conversation.mistral", "open-mistral-7b", "https://api.mistral.ai:443/v1"),
        (OpenAIModel, "conversation.openai", "gpt-5-nano", "https://api.openai.com:443/v1"),
    ],
)
async def test_openai_compatible_providers_defaults(
    cls: type[OpenAIModel], type_name: str, model: str, endpoint: str
) -> None:
    component = await _model(cls, type_name, key="k")
    try:
        assert (component.model, str(component.api.base)) == (model, endpoint)
    finally:
        await component.close()


async def test_mistral_gets_earlier_tool_calls_as_text(fake_llm: FakeLLM) -> None:
    model = await _model(MistralModel, "conversation.mistral", key="k", endpoint=f"{fake_llm.url}/v1")
    call = ToolCall("call_1", "get_weather", '{"city":"Paris"}')
    try:
        await model.converse(
            _ask(
                user("weather?"),
                Message(Role.ASSISTANT, (call,)),
                Message(Role.TOOL, (ToolResult("call_1", "get_weather", "sunny"),)),
            )
        )
    finally:
        await model.close()
    assert fake_llm.requests[0]["body"]["messages"][1:] == [
        {"role": "assistant", "content": 'Tool call [ID: call_1]: get_weather({"city":"Paris"})'},
        {"role": "user", "content": "Tool response [ID: call_1, Name: get_weather]: sunny"},
    ]


def test_every_conversation_type_daprd_registers_resolves() -> None:
    from pydapr.components.registry import registry

    known = registry.known_types()
    for name in ("echo", "openai", "ollama", "anthropic", "deepseek", "googleai", "huggingface", "mistral"):
        assert known[f"conversation.{name}"] == ["v1"]
        assert issubclass(registry.resolve(f"conversation.{name}", "v1"), ConversationModel)
