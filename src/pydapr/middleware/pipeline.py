"""Builds ``spec.httpPipeline`` and ``spec.appHttpPipeline`` from the Configuration and the loaded
middleware components, as daprd's pkg/middleware/http does (docs/middleware.md).

Each handler names a loaded middleware component by ``name``; its ``type`` must equal the
component's type and its ``version`` (empty meaning ``v1``) the component's version (empty meaning
``v1``), compared exactly as daprd's middleware store compares them. A handler that names no such
component is skipped, as daprd skips it (it builds the chain from whatever is loaded); pydapr says
so in a startup warning naming the Configuration file, the handler and the component. Handlers run
in the order listed. A component's ``handler()`` is built once and shared by both pipelines.

``selector`` in a handler is parsed by daprd and never used; pydapr does not apply it either
(``unapplied_selectors`` gives the startup warnings for it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from pydapr.api.http.dispatch import dapr_errors_as_responses
from pydapr.middleware.contract import HttpMiddleware, Middleware
from pydapr.resources import Configuration
from pydapr.sidecar.components import ComponentStore

log = logging.getLogger("pydapr.middleware")

_SECTIONS = {"server": "httpPipeline", "app": "appHttpPipeline"}


def http_pipeline(configuration: Configuration | None, components: ComponentStore) -> list[Middleware]:
    """The ``httpPipeline`` handlers, in order, for the public HTTP API.

    When there is at least one, the list ends with a step that turns a ``DaprError`` raised further
    in (routing, the building blocks) into Dapr's JSON error response, so the middlewares see every
    answer as a response, as daprd's see what its handlers write (rate-limit headers on a 404, an
    uppercased error body). With no handlers the list is empty and the API chain is unchanged.
    """
    middlewares = _build("server", configuration, components)
    if middlewares:
        middlewares.append(dapr_errors_as_responses)
    return middlewares


def app_http_pipeline(configuration: Configuration | None, components: ComponentStore) -> list[Middleware]:
    """The ``appHttpPipeline`` handlers, in order, for HTTP calls to the app."""
    return _build("app", configuration, components)


def unapplied_selectors(configuration: Configuration) -> Iterator[str]:
    """One warning per handler with a ``selector``: daprd reads it and applies none, nor does pydapr."""
    where = f'{configuration.source or "configuration"}: Configuration "{configuration.name}"'
    for pipeline in _SECTIONS.values():
        for index, raw in enumerate(_raw_handlers(configuration, pipeline)):
            if _lookup(raw, "selector"):
                yield (
                    f"{where}: spec.{pipeline}.handlers[{index}].selector is not applied (daprd ignores it "
                    f'too); handler "{_text(_lookup(raw, "name"))}" runs for every request'
                )


def _build(which: str, configuration: Configuration | None, components: ComponentStore) -> list[Middleware]:
    if configuration is None:
        return []
    pipeline = _SECTIONS[which]
    specs = configuration.http_handlers if which == "server" else configuration.app_http_handlers
    if not specs:
        return []
    raw = _raw_handlers(configuration, pipeline)
    loaded = components.by_family("middleware")
    where = f'{configuration.source or "configuration"}: Configuration "{configuration.name}"'
    chain: list[Middleware] = []
    names: list[str] = []
    for index, spec in enumerate(specs):
        version = _text(_lookup(raw[index], "version")) if index < len(raw) else ""
        field = f"spec.{pipeline}.handlers[{index}]"
        handler = f'{where}: {field} (name "{spec.name}", type {spec.type}/{version or "v1"})'
        component = loaded.get(spec.name)
        if component is None:
            log.warning(
                '%s: no middleware component "%s" is loaded; the handler is skipped, as daprd skips it',
                handler,
                spec.name,
            )
            continue
        comp_version = component.spec.version or "v1"
        if component.spec.type != spec.type or comp_version != (version or "v1"):
            log.warning(
                '%s: component "%s" (%s) is %s/%s; the handler is skipped, as daprd skips a handler whose '
                "type or version differs from its component's",
                handler,
                spec.name,
                component.spec.source,
                component.spec.type,
                comp_version,
            )
            continue
        instance = component.instance
        if not isinstance(instance, HttpMiddleware):  # a middleware family type pydapr registers otherwise
            raise ValueError(f'{handler}: component "{spec.name}" is not an HTTP middleware')
        chain.append(instance.middleware())
        names.append(f"{spec.name} ({spec.type}/{comp_version})")
    if names:
        log.info("HTTP pipeline %s (%s): %s", which, pipeline, ", ".join(names))
    return chain


def _raw_handlers(configuration: Configuration, pipeline: str) -> list[dict[str, Any]]:
    """The handler mappings as written (the parsed HandlerSpec keeps only name and type)."""
    section = _lookup(configuration.spec, pipeline)
    handlers = _lookup(section, "handlers") if isinstance(section, dict) else None
    if not isinstance(handlers, list):
        return []
    return [item if isinstance(item, dict) else {} for item in handlers]


def _lookup(obj: dict[str, Any], key: str) -> Any:
    # As Go's encoding/json (and pydapr's Configuration parser) find a field: exact, then any case.
    if key in obj:
        return obj[key]
    folded = key.casefold()
    found = None
    for candidate, value in obj.items():
        if isinstance(candidate, str) and candidate.casefold() == folded:
            found = value
    return found


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
