"""JSON over HTTP(S) to a model API, on the project's pooled client; failures become one exception.

The client connects on first use, so a component whose server is down still loads; each failed
call raises ``ModelAPIError`` with what went wrong (connection, status and the API's own error
message, malformed answer), which the conversation API reports as ``ERR_CONVERSATION_INVOKE``.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import msgspec

from pydapr.http.client import HttpClient, HttpClientError

# A model may think for minutes; this bounds a call whose server never answers.
DEFAULT_TIMEOUT = 600.0
MAX_RESPONSE_BODY = 64 * 1024 * 1024


class ModelAPIError(Exception):
    """A call to the model's API failed; the message is what the user sees after Dapr's prefix."""


@dataclass(frozen=True, slots=True)
class BaseURL:
    scheme: str
    host: str
    port: int
    path: str  # no trailing slash

    @classmethod
    def parse(cls, url: str) -> BaseURL:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http:// or https:// URL")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/"))

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.path}"


class JsonAPI:
    def __init__(self, base: BaseURL, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.base = base
        self.timeout = timeout
        self._client = HttpClient(max_response_body=MAX_RESPONSE_BODY)
        self._tls = ssl.create_default_context() if base.scheme == "https" else None

    async def post(self, path: str, body: dict[str, Any], headers: list[tuple[str, str]]) -> Any:
        """POST ``body`` to ``base.path + path`` (path may carry a query) and decode the JSON answer."""
        target = self.base.path + path
        url = f"{self.base.scheme}://{self.base.host}:{self.base.port}{target}"
        head = [("content-type", "application/json"), ("accept", "application/json"), *headers]
        try:
            resp = await self._client.request(
                "POST",
                self.base.host,
                self.base.port,
                target,
                head,
                msgspec.json.encode(body),
                timeout=self.timeout,
                ssl=self._tls,
            )
        except HttpClientError as exc:
            raise ModelAPIError(f'Post "{url}": {exc}') from exc
        if not 200 <= resp.status < 300:
            raise ModelAPIError(f"API returned unexpected status code: {resp.status}{_error_text(resp.body)}")
        try:
            return msgspec.json.decode(resp.body)
        except msgspec.DecodeError as exc:
            raise ModelAPIError(f"invalid JSON in the model's answer: {exc}") from exc

    async def close(self) -> None:
        await self._client.close()


def _error_text(body: bytes) -> str:
    """The API's own error message (``{"error": {"message": ...}}`` in OpenAI's and Anthropic's APIs)."""
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError:
        text = body.decode("utf-8", "replace").strip()
        return f": {text[:500]}" if text else ""
    if isinstance(doc, dict):
        err = doc.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return f": {err['message']}"
        if isinstance(err, str):
            return f": {err}"
    return ""
