"""pydapr's OpenAPI description of its HTTP API (``openapi.yaml`` beside this module), as JSON.

The YAML uses anchors under ``x-templates`` to write the versioned copies of a route once; they are
resolved by the YAML parser, so the template block itself is dropped from what is served.
"""

from __future__ import annotations

import functools
import importlib.resources
from typing import Any

import msgspec
import yaml

ROUTE = "/v1.0/openapi.json"
# The router's catch-all ``{name:*}`` is a plain parameter in OpenAPI; paths written in Dapr's
# documented form (invoke's ``{appId}/method/{method}``) name their pattern in this extension.
ROUTE_EXTENSION = "x-pydapr-route"


@functools.cache
def document() -> dict[str, Any]:
    text = importlib.resources.files(__package__).joinpath("openapi.yaml").read_text("utf-8")
    doc: dict[str, Any] = yaml.safe_load(text)
    doc.pop("x-templates", None)
    return doc


@functools.cache
def document_json() -> bytes:
    return msgspec.json.encode(document())
