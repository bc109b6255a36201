"""Build Component and HTTPEndpoint values from their YAML documents."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ._fields import Doc, join
from ._values import go_text
from .durations import parse_duration
from .models import ClientTLS, Component, HTTPEndpoint, SecretKeyRef, TLSDocument

__all__ = ["parse_component", "parse_http_endpoint", "registry_version"]

_TYPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_.-]*[A-Za-z0-9_-]")


_TOP = ("apiVersion", "kind", "metadata", "spec", "auth", "scopes")
_SPEC = ("type", "version", "metadata", "ignoreErrors", "initTimeout")


def parse_component(doc: Doc, obj: dict[str, Any], namespace: str | None) -> Component:
    spec = doc.mapping(obj, "spec", "")
    doc.note_unknown(obj, _TOP, "")
    doc.note_unknown(spec, _SPEC, "spec")
    kind = doc.required(spec, "type", "spec")
    if not _TYPE.fullmatch(kind):
        raise doc.error("spec.type", f'"{kind}" is not of the form family.name, like state.redis')
    init_timeout = _init_timeout(doc, spec)
    if init_timeout <= 0:
        raise doc.error("spec.initTimeout", "must be greater than zero")
    auth = doc.mapping(obj, "auth", "")
    return Component(
        name=doc.name or "",
        namespace=namespace,
        type=kind,
        # Optional, as in Dapr: empty, v0 and v1 all name a type's first version.
        version=doc.string(spec, "version", "spec") or "",
        metadata=doc.name_values(spec, "metadata", "spec"),
        ignore_errors=doc.boolean(spec, "ignoreErrors", "spec", False),
        init_timeout=init_timeout,
        secret_store=doc.string(auth, "secretStore", "auth") or None,
        scopes=doc.strings(obj, "scopes", ""),
        source=doc.file,
    )


def _init_timeout(doc: Doc, spec: dict[str, Any]) -> float:
    text = doc.string(spec, "initTimeout", "spec")
    if not text:
        return 5.0
    try:
        return parse_duration(text)
    except ValueError as exc:
        # daprd falls back to its 5s default when the value does not parse; so does pydapr, aloud.
        doc.warn("spec.initTimeout", f"{exc}; using the default 5s")
        return 5.0


def parse_http_endpoint(doc: Doc, obj: dict[str, Any], namespace: str | None) -> HTTPEndpoint:
    spec = doc.mapping(obj, "spec", "")
    base_url = doc.required(spec, "baseUrl", "spec")
    if not base_url.startswith(("http://", "https://")):
        raise doc.error("spec.baseUrl", f'"{base_url}" must start with http:// or https://')
    auth = doc.mapping(obj, "auth", "")
    return HTTPEndpoint(
        name=doc.name or "",
        namespace=namespace,
        base_url=base_url,
        headers=doc.name_values(spec, "headers", "spec"),
        client_tls=_client_tls(doc, spec),
        secret_store=doc.string(auth, "secretStore", "auth") or None,
        scopes=doc.strings(obj, "scopes", ""),
        source=doc.file,
    )


def _client_tls(doc: Doc, spec: dict[str, Any]) -> ClientTLS | None:
    if doc.get(spec, "clientTLS") is None:
        return None
    tls = doc.mapping(spec, "clientTLS", "spec")
    renegotiation = doc.string(tls, "renegotiation", "spec.clientTLS") or "Never"
    if renegotiation not in ("Never", "OnceAsClient", "FreelyAsClient"):
        raise doc.error(
            "spec.clientTLS.renegotiation",
            f'"{renegotiation}" is not one of Never, OnceAsClient, FreelyAsClient',
        )
    return ClientTLS(
        root_ca=_tls_document(doc, tls, "rootCA"),
        certificate=_tls_document(doc, tls, "certificate"),
        private_key=_tls_document(doc, tls, "privateKey"),
        renegotiation=renegotiation,
    )


def _tls_document(doc: Doc, tls: dict[str, Any], key: str) -> TLSDocument | None:
    where = join("spec.clientTLS", key)
    if doc.get(tls, key) is None:
        return None
    entry = doc.mapping(tls, key, "spec.clientTLS")
    value = doc.get(entry, "value")
    if doc.get(entry, "secretKeyRef") is not None:
        if value is not None:
            raise doc.error(where, "value and secretKeyRef are mutually exclusive; set only one")
        ref = doc.mapping(entry, "secretKeyRef", where)
        secret = doc.required(ref, "name", join(where, "secretKeyRef"))
        key_name = doc.string(ref, "key", join(where, "secretKeyRef")) or secret
        return TLSDocument(secret_key_ref=SecretKeyRef(name=secret, key=key_name))
    if value is None:
        raise doc.error(where, "needs a value or a secretKeyRef")
    return TLSDocument(value=go_text(value))


_INITIAL_VERSIONS = ("", "v0", "v1")


def registry_version(version: str, known: Sequence[str]) -> str:
    """The version to look a component type up under, given the versions the registry knows.

    Dapr lowercases the version, and an empty one, ``v0`` and ``v1`` all mean the type's first
    version (pkg/components ``IsInitialVersion``); a type registered only under a later version
    (``state.yugabytedb`` is v2 only) is what an empty version gets. An unknown type is looked
    up as v1, so the error names the version Dapr would have used.
    """
    wanted = version.lower()
    if wanted in known or wanted not in _INITIAL_VERSIONS:
        return wanted
    if "v1" in known or not known:
        return "v1"
    if wanted == "" and len(known) == 1:
        return known[0]
    return wanted
