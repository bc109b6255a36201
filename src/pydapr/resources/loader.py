"""Load Dapr resources from ``--resources-path`` folders and the ``--config`` file."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._component import parse_component, parse_http_endpoint
from ._configuration import parse_configuration
from ._fields import Doc
from ._resiliency import parse_resiliency
from ._subscription import parse_subscription
from ._values import describe
from ._yaml import read_documents
from .errors import ResourceError
from .models import Component, Configuration, HTTPEndpoint, Resiliency, Subscription

__all__ = ["ResourceError", "Resources", "load_configuration", "load_resources"]

log = logging.getLogger("pydapr.resources")

_GROUP = "dapr.io/"
_VERSIONS = {
    "Component": ("dapr.io/v1alpha1",),
    "Configuration": ("dapr.io/v1alpha1",),
    "Resiliency": ("dapr.io/v1alpha1",),
    "HTTPEndpoint": ("dapr.io/v1alpha1",),
    "Subscription": ("dapr.io/v2alpha1", "dapr.io/v1alpha1"),
}
_SUFFIXES = (".yaml", ".yml")


@dataclass
class Resources:
    components: list[Component] = field(default_factory=list)
    configurations: list[Configuration] = field(default_factory=list)
    resiliencies: list[Resiliency] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    http_endpoints: list[HTTPEndpoint] = field(default_factory=list)


def load_resources(paths: Sequence[Path], *, app_id: str, namespace: str = "default") -> Resources:
    """Every Dapr resource in the YAML files of ``paths`` that applies to this app and namespace."""
    found = Resources()
    seen: dict[tuple[str, str], Path] = {}
    for directory in paths:
        for file in _yaml_files(Path(directory)):
            for index, obj in enumerate(read_documents(file, _read(file)), start=1):
                resource = _resource(file, index, obj, app_id=app_id, namespace=namespace)
                if resource is None:
                    continue
                kind, value = resource
                earlier = seen.get((kind, value.name))
                if earlier is not None:
                    where = "earlier in this file" if earlier == file else f"in {earlier}"
                    raise ResourceError(
                        file,
                        f"duplicate name, also defined {where}",
                        kind=kind,
                        name=value.name,
                        field="metadata.name",
                    )
                seen[(kind, value.name)] = file
                _add(found, value)
    return found


def load_configuration(path: Path) -> Configuration:
    """The Configuration in the sidecar's ``--config`` file; ``$VAR`` and ``${VAR}`` are expanded."""
    path = Path(path)
    if not path.is_file():
        raise ResourceError(path, "file not found" if not path.exists() else "not a file")
    try:
        text = _read(path).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ResourceError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    # Dapr runs os.ExpandEnv over the config file (only this file) before parsing it.
    documents = read_documents(path, _expand_env(text))
    found: Configuration | None = None
    for index, obj in enumerate(documents, start=1):
        if not isinstance(obj, dict) or obj.get("kind") != "Configuration":
            continue
        if found is not None:
            raise ResourceError(path, "more than one Configuration in the file", document=index)
        doc = Doc(path, "Configuration", index)
        # Dapr reads --config without looking at apiVersion, so only a wrong one is refused.
        if obj.get("apiVersion") is not None:
            _check_version(doc, obj, str(obj.get("apiVersion")))
        meta = doc.mapping(obj, "metadata", "")
        doc.name = _peek_name(obj) or path.stem
        found = parse_configuration(doc, obj, doc.string(meta, "namespace", "metadata") or None)
    if found is None:
        raise ResourceError(path, "no Configuration (apiVersion dapr.io/v1alpha1) in the file")
    return found


def _yaml_files(directory: Path) -> list[Path]:
    if not directory.exists():
        raise ResourceError(directory, "resources directory not found")
    if not directory.is_dir():
        raise ResourceError(directory, "not a directory")
    # Sorted like Go's os.ReadDir, so load order (and which duplicate is reported) is stable.
    files = []
    for entry in sorted(directory.iterdir(), key=lambda item: item.name):
        if entry.is_dir():
            continue
        if entry.suffix.lower() in _SUFFIXES:
            files.append(entry)
        else:
            log.debug("skipping %s: not a .yaml or .yml file", entry)
    return files


def _read(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except OSError as exc:
        raise ResourceError(file, f"cannot read file: {exc.strerror or exc}") from None


def _resource(file: Path, index: int, obj: Any, *, app_id: str, namespace: str) -> tuple[str, Any] | None:
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise ResourceError(file, f"expected a mapping, got {describe(obj)}", document=index)
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    if not isinstance(kind, str) or kind not in _VERSIONS or not isinstance(api_version, str):
        log.debug("skipping document %d of %s: kind %r is not a Dapr resource", index, file, kind)
        return None
    if not api_version.startswith(_GROUP):
        log.debug("skipping document %d of %s: apiVersion %s is not Dapr's", index, file, api_version)
        return None
    doc = Doc(file, kind, index)
    _check_version(doc, obj, api_version)
    meta = doc.mapping(obj, "metadata", "")
    doc.name = _name(doc, meta)
    ns = doc.string(meta, "namespace", "metadata") or None
    if ns is not None and ns != namespace:
        log.debug("skipping %s %r in %s: namespace %s is not %s", kind, doc.name, file, ns, namespace)
        return None
    # Configurations are never scoped in Dapr; the rest are skipped when another app is named.
    scopes = doc.strings(obj, "scopes", "") if kind != "Configuration" else ()
    if scopes and app_id not in scopes:
        log.debug("skipping %s %r in %s: scoped to %s", kind, doc.name, file, ", ".join(scopes))
        return None
    return kind, _PARSERS[kind](doc, obj, ns, api_version)


def _check_version(doc: Doc, obj: dict[str, Any], api_version: str) -> None:
    versions = _VERSIONS[doc.kind]
    if api_version not in versions:
        doc.name = _peek_name(obj)
        raise doc.error("apiVersion", f'"{api_version}" is not supported; use {" or ".join(versions)}')


def _peek_name(obj: dict[str, Any]) -> str | None:
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) else None


def _name(doc: Doc, meta: dict[str, Any]) -> str:
    name = doc.required(meta, "name", "metadata")
    # Dapr rejects names Kubernetes could not use as a path segment.
    if name in (".", ".."):
        raise doc.error("metadata.name", f'"{name}" is not a valid name')
    for bad in ("/", "%"):
        if bad in name:
            raise doc.error("metadata.name", f'"{name}" may not contain "{bad}"')
    return name


def _add(found: Resources, value: Any) -> None:
    if isinstance(value, Component):
        found.components.append(value)
    elif isinstance(value, Configuration):
        found.configurations.append(value)
    elif isinstance(value, Resiliency):
        found.resiliencies.append(value)
    elif isinstance(value, Subscription):
        found.subscriptions.append(value)
    else:
        found.http_endpoints.append(value)


_PARSERS: dict[str, Callable[[Doc, dict[str, Any], str | None, str], Any]] = {
    "Component": lambda doc, obj, ns, _: parse_component(doc, obj, ns),
    "Configuration": lambda doc, obj, ns, _: parse_configuration(doc, obj, ns),
    "Resiliency": lambda doc, obj, ns, _: parse_resiliency(doc, obj, ns),
    "HTTPEndpoint": lambda doc, obj, ns, _: parse_http_endpoint(doc, obj, ns),
    "Subscription": parse_subscription,
}

# Go's os.ExpandEnv: ${NAME}, $NAME, or one special character ($1, $$, ...); unset expands to "".
_ENV = re.compile(r"\$(?:\{([^}]*)\}|([*#$@!?\-0-9])|([A-Za-z0-9_]+))")


def _expand_env(text: str) -> str:
    return _ENV.sub(lambda match: os.environ.get(next(g for g in match.groups() if g is not None), ""), text)
