"""The conversation (LLM) building block: the API both transports call, PII scrubbing, the response
cache, and the model components (echo, OpenAI and the OpenAI-compatible providers, Ollama, Anthropic)."""

from __future__ import annotations

# Dapr component type and version -> "module:Class", imported only when a component of that type loads.
REGISTRY: dict[tuple[str, str], str] = {
    ("conversation.echo", "v1"): "pydapr.conversation.echo:EchoModel",
    ("conversation.openai", "v1"): "pydapr.conversation.openai:OpenAIModel",
    ("conversation.ollama", "v1"): "pydapr.conversation.ollama:OllamaModel",
    ("conversation.anthropic", "v1"): "pydapr.conversation.anthropic:AnthropicModel",
    ("conversation.deepseek", "v1"): "pydapr.conversation.compatible:DeepSeekModel",
    ("conversation.googleai", "v1"): "pydapr.conversation.compatible:GoogleAIModel",
    ("conversation.huggingface", "v1"): "pydapr.conversation.compatible:HuggingFaceModel",
    ("conversation.mistral", "v1"): "pydapr.conversation.compatible:MistralModel",
}
