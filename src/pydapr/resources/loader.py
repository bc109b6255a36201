"""Load Dapr resources from ``--resources-path`` folders and the ``--config`` file(s).

The rules follow Dapr's self-hosted loaders (pkg/internal/loader/disk, pkg/resiliency,
pkg/config): which files are read, how they are split into documents, which documents are
skipped, how namespaces, scopes and duplicate names are handled, and how several ``--config``
files combine.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec
from msgspec import field
from msgspec.structs import replace

from ._component import parse_component, parse_http_endpoint
from ._configuration import parse_configuration
from ._fields import Doc, lookup
from ._resiliency import parse_resiliency
from ._subscription import parse_subscription
from ._workflow_access import WorkflowAccessPolicyInvalid, parse_workflow_access_policy
from ._yaml import decode_text, read_documents
from .errors import ResourceError
from .models import Component, Configuration, HTTPEndpoint, Resiliency, Subscription, WorkflowAccessPolicy

__all__ = ["ResourceError", "Resources", "load_configuration", "load_configurations", "load_resources"]

log = logging.getLogger("pydapr.resources")

_GROUP = "dapr.io/"
_VERSIONS = {
    "Component": ("dapr.io/v1alpha1",),
    "Configuration": ("dapr.io/v1alpha1",),
    "Resiliency": ("dapr.io/v1alpha1",),
    "HTTPEndpoint": ("dapr.io/v1alpha1",),
    "Subscription": ("dapr.io/v2alpha1", "dapr.io/v1alpha1"),
    "WorkflowAccessPolicy": ("dapr.io/v1alpha1",),
}
# Kinds current daprd reads that pydapr does not implement yet.
_UNSUPPORTED = ("MCPServer",)
# Kinds Dapr loads through its generic disk loader: filtered by namespace, names unique.
_NAMED = ("Component", "HTTPEndpoint", "Configuration", "WorkflowAccessPolicy")
_SUFFIXES = (".yaml", ".yml")


class Resources(msgspec.Struct):
    components: list[Component] = field(default_factory=list)
    configurations: list[Configuration] = field(default_factory=list)
    resiliencies: list[Resiliency] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    http_endpoints: list[HTTPEndpoint] = field(default_factory=list)
    workflow_access_policies: list[WorkflowAccessPolicy] = field(default_factory=list)


class _Seen(msgspec.Struct):
    """Where each name was first defined, per kind, to report duplicates by both files."""

    files: dict[tuple[str, str], Path] = field(default_factory=dict)
    subscriptions: dict[str, int] = field(default_factory=dict)


def load_resources(
    paths: Sequence[Path],
    *,
    app_id: str,
    namespace: str = "default",
    filter_namespace: bool | None = None,
) -> Resources:
    """Every Dapr resource in the YAML files of ``paths`` that applies to this app and namespace.

    As in daprd, ``metadata.namespace`` is only compared with ``namespace`` when the sidecar's
    namespace is set (``filter_namespace``; by default, when ``$NAMESPACE`` is set).
    """
    if filter_namespace is None:
        filter_namespace = bool(os.environ.get("NAMESPACE"))
    found = Resources()
    seen = _Seen()
    for directory in paths:
        for file in _yaml_files(Path(directory)):
            text = decode_text(file, _read(file))
            if text is None:
                continue
            for index, obj in read_documents(file, text):
                target = _target(file, index, obj)
                if target is None:
                    continue
                doc, api_version = target
                parsed = _resource(
                    doc, obj, api_version, seen, app_id, namespace if filter_namespace else None
                )
                if parsed is not None:
                    _add(found, seen, doc, parsed)
    return found


def load_configurations(paths: Sequence[Path]) -> Configuration:
    """The sidecar's Configuration from one or more ``--config`` files, combined as daprd does.

    daprd decodes each file in turn onto the same configuration (pkg/config
    ``LoadStandaloneConfiguration``): a later file's settings replace an earlier file's, section
    by section: mappings merge key by key, a list or a value replaces the earlier one, and
    ``null`` clears a section. ``$VAR`` and ``${VAR}`` are expanded in each file first. With no
    paths this is Dapr's default configuration.
    """
    sources = [Path(path) for path in paths]
    if not sources:
        return replace(
            _parse_standalone(Doc(Path("--config"), "Configuration", 1), {}, "default"), source=None
        )
    merged: dict[str, Any] = {}
    for path in sources:
        obj = _configuration_document(path)
        if obj is None:
            continue
        if len(sources) > 1:
            # Each file is checked on its own first, so an error (or warning) names its file.
            _parse_standalone(Doc(path, "Configuration", 1), obj, path.stem)
        merged = _merge(merged, obj)
    # With several files, the combination was already checked (and warned about) file by file.
    final = Doc(sources[-1], "Configuration", 1, quiet=len(sources) > 1)
    return _parse_standalone(final, merged, sources[-1].stem)


def _parse_standalone(doc: Doc, obj: dict[str, Any], default_name: str) -> Configuration:
    meta = doc.mapping(obj, "metadata", "")
    doc.name = doc.string(meta, "name", "metadata") or default_name
    namespace = doc.string(meta, "namespace", "metadata") or None
    return parse_configuration(doc, obj, namespace, standalone=True)


def load_configuration(path: Path) -> Configuration:
    """The Configuration in one ``--config`` file; ``$VAR`` and ``${VAR}`` are expanded."""
    return load_configurations([path])


def _configuration_document(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        raise ResourceError(path, "file not found" if not path.exists() else "not a file")
    try:
        text = _read(path).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ResourceError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    # Dapr runs os.ExpandEnv over the config file (only this file) before parsing it, and reads
    # one document without looking at its kind. pydapr takes the first Configuration (or the
    # first document without a kind) so a file that also holds other documents still works.
    chosen: tuple[int, dict[str, Any]] | None = None
    others = 0
    for index, obj in read_documents(path, _expand_env(text)):
        if obj is None:
            continue
        if not isinstance(obj, dict):
            others += 1
            continue
        kind = lookup(obj, "kind")
        if kind not in ("Configuration", None) or chosen is not None:
            others += 1
            continue
        chosen = (index, obj)
    if chosen is None:
        if others:
            raise ResourceError(path, "no Configuration (apiVersion dapr.io/v1alpha1) in the file")
        log.warning("%s: the file is empty; using Dapr's default configuration", path)
        return None
    index, obj = chosen
    if others:
        log.warning(
            "%s: only the Configuration (document %d) is read; other documents are ignored", path, index
        )
    api_version = lookup(obj, "apiVersion")
    if api_version is not None and api_version not in _VERSIONS["Configuration"]:
        # Dapr reads --config without looking at apiVersion; a wrong one is only worth a warning.
        log.warning(
            '%s: apiVersion "%s" is not dapr.io/v1alpha1; read as a Configuration anyway', path, api_version
        )
    return obj


def _merge(base: dict[str, Any], overlay: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    # How yaml.v3 decodes onto an already-filled struct: pointers and maps are reused (merged),
    # lists and scalars replaced, null resets a pointer section (top-level structs stay).
    merged = dict(base)
    for key, value in overlay.items():
        earlier = _existing_key(merged, key)
        if value is None:
            if depth > 0 and earlier is not None:
                del merged[earlier]
            continue
        if earlier is not None and isinstance(merged[earlier], dict) and isinstance(value, dict):
            merged[earlier] = _merge(merged[earlier], value, depth + 1)
        else:
            if earlier is not None:
                del merged[earlier]
            merged[key] = value
    return merged


def _existing_key(obj: dict[str, Any], key: Any) -> Any:
    if key in obj:
        return key
    if isinstance(key, str):
        for candidate in obj:
            if isinstance(candidate, str) and candidate.casefold() == key.casefold():
                return candidate
    return None


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


def _target(file: Path, index: int, obj: Any) -> tuple[Doc, str | None] | None:
    """The document as a Dapr resource to read, or ``None`` when Dapr would pass it by."""
    if obj is None:
        return None
    if not isinstance(obj, dict):
        log.debug("skipping document %d of %s: not a mapping, so not a Dapr resource", index, file)
        return None
    kind, api_version = lookup(obj, "kind"), lookup(obj, "apiVersion")
    if kind in _UNSUPPORTED and isinstance(api_version, str) and api_version.startswith(_GROUP):
        log.warning("skipping document %d of %s: pydapr does not support %s resources yet", index, file, kind)
        return None
    if not isinstance(kind, str) or kind not in _VERSIONS:
        log.debug("skipping document %d of %s: kind %r is not a Dapr resource", index, file, kind)
        return None
    doc = Doc(file, kind, index)
    if kind == "Resiliency":
        # Dapr's resiliency loader looks at the kind alone.
        return doc, api_version if isinstance(api_version, str) else None
    if not isinstance(api_version, str) or not api_version.startswith(_GROUP):
        log.debug("skipping document %d of %s: apiVersion %s is not Dapr's", index, file, api_version)
        return None
    if api_version not in _VERSIONS[kind]:
        doc.name = _peek_name(obj)
        raise doc.error("apiVersion", f'"{api_version}" is not supported; use {" or ".join(_VERSIONS[kind])}')
    return doc, api_version


def _resource(
    doc: Doc, obj: dict[str, Any], api_version: str | None, seen: _Seen, app_id: str, namespace: str | None
) -> Any:
    meta = doc.mapping(obj, "metadata", "")
    doc.name = _name(doc, meta)
    ns = doc.string(meta, "namespace", "metadata") or None
    if doc.kind in _NAMED:
        if namespace is not None and ns is not None and ns != namespace:
            log.debug(
                "skipping %s %r in %s: namespace %s is not %s", doc.kind, doc.name, doc.file, ns, namespace
            )
            return None
        # Dapr checks names before scopes: the same name scoped to two apps is still a clash.
        earlier = seen.files.get((doc.kind, doc.name))
        if earlier is not None:
            where = "earlier in this file" if earlier == doc.file else f"in {earlier}"
            raise doc.error("metadata.name", f"duplicate name, also defined {where}")
        seen.files[(doc.kind, doc.name)] = doc.file
    # Configurations are never scoped in Dapr; the rest are skipped when another app is named.
    scopes = doc.strings(obj, "scopes", "") if doc.kind != "Configuration" else ()
    if scopes and app_id not in scopes:
        log.debug("skipping %s %r in %s: scoped to %s", doc.kind, doc.name, doc.file, ", ".join(scopes))
        return None
    if doc.kind == "WorkflowAccessPolicy":
        return _workflow_access_policy(doc, obj, ns)
    return _PARSERS[doc.kind](doc, obj, ns, api_version or "")


def _workflow_access_policy(doc: Doc, obj: dict[str, Any], ns: str | None) -> WorkflowAccessPolicy | None:
    """As daprd: a policy that cannot be decoded or fails validation is skipped with a warning."""
    try:
        return parse_workflow_access_policy(doc, obj, ns)
    except ResourceError as exc:
        log.warning("%s; the WorkflowAccessPolicy is skipped", exc)
    except WorkflowAccessPolicyInvalid as exc:
        log.warning('WorkflowAccessPolicy "%s" failed validation, skipping: %s (%s)', doc.name, exc, doc.file)
    return None


def _peek_name(obj: dict[str, Any]) -> str | None:
    meta = lookup(obj, "metadata")
    name = lookup(meta, "name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) else None


def _name(doc: Doc, meta: dict[str, Any]) -> str:
    if doc.kind in ("Resiliency", "Subscription", "WorkflowAccessPolicy"):
        # Dapr never looks these up by name, so it loads them without one.
        name = doc.string(meta, "name", "metadata") or ""
    else:
        name = doc.required(meta, "name", "metadata")
    # Dapr rejects names Kubernetes could not use as a path segment.
    if name in (".", ".."):
        raise doc.error("metadata.name", f'"{name}" is not a valid name')
    for bad in ("/", "%"):
        if bad in name:
            raise doc.error("metadata.name", f'"{name}" may not contain "{bad}"')
    return name


def _add(found: Resources, seen: _Seen, doc: Doc, value: Any) -> None:
    if isinstance(value, Component):
        found.components.append(value)
    elif isinstance(value, Configuration):
        found.configurations.append(value)
    elif isinstance(value, Resiliency):
        found.resiliencies.append(value)
    elif isinstance(value, Subscription):
        # Dapr keeps declarative subscriptions by name, so a later one replaces an earlier one.
        earlier = seen.subscriptions.get(value.name)
        if earlier is None:
            seen.subscriptions[value.name] = len(found.subscriptions)
            found.subscriptions.append(value)
        else:
            replaced = found.subscriptions[earlier]
            doc.warn(
                "metadata.name", f"same name as the subscription in {replaced.source}, which it replaces"
            )
            found.subscriptions[earlier] = value
    elif isinstance(value, WorkflowAccessPolicy):
        found.workflow_access_policies.append(value)
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
