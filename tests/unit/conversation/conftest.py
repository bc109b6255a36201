"""A real HTTP model server (the fake OpenAI/Anthropic/Ollama API) on a free port, per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

from tests.e2e.apps.conversation_fake_llm import REQUESTS, build_app


@dataclass
class FakeLLM:
    app: web.Application
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[dict[str, Any]]:
        return list(self.app[REQUESTS])


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeLLM]:
    app = build_app()
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield FakeLLM(app, runner.addresses[0][1])
    finally:
        await runner.cleanup()
