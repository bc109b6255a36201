"""``conversation.ollama``: an Ollama server, through its OpenAI-compatible API as Dapr uses it.

Metadata (components-contrib conversation/ollama): ``model`` (default ``llama3.2:latest``;
``OLLAMA_MODEL`` wins when set), ``endpoint`` (default ``http://localhost:11434/v1``), ``cacheTTL``.
Ollama needs no key. The server is contacted only per request, so the component loads without it.
"""

from __future__ import annotations

from pydapr.components.base import ComponentMetadata
from pydapr.conversation.contract import resolve_model
from pydapr.conversation.openai import OpenAIModel

DEFAULT_ENDPOINT = "http://localhost:11434/v1"
DEFAULT_MODEL = "llama3.2:latest"


class OllamaModel(OpenAIModel):
    def configure(self, metadata: ComponentMetadata) -> tuple[str, str, str]:
        model = resolve_model("OLLAMA_MODEL", metadata.get("model"), DEFAULT_MODEL)
        # Ollama ignores the key; its OpenAI-compatible API only wants one to be present.
        return model, metadata.get("endpoint") or DEFAULT_ENDPOINT, metadata.get("key") or "ollama"
