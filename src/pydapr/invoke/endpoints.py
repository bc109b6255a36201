"""HTTPEndpoint resources made ready to call: headers with their secrets resolved, and the TLS
client context built from ``clientTLS`` (root CA, client certificate and key), once at startup."""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydapr.sidecar.components import ComponentStartupError

if TYPE_CHECKING:
    from pydapr.resources import HTTPEndpoint
    from pydapr.resources.models import TLSDocument
    from pydapr.sidecar.components import ComponentStore


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    base_url: str
    headers: dict[str, str]
    tls: ssl.SSLContext | None  # None: the default verification for https URLs


async def resolve_endpoints(endpoints: list[HTTPEndpoint], components: ComponentStore) -> dict[str, Endpoint]:
    """Raises ComponentStartupError naming the file, the endpoint and the field on any problem."""
    resolved = {}
    for ep in endpoints:
        where = f'{ep.source}: HTTPEndpoint "{ep.name}"'
        headers = {k.lower(): v for k, v in ep.plain_headers().items()}
        for name, ref in ep.secret_refs():
            try:
                headers[name.lower()] = await components.secret(ep.secret_store, ref, f"header {name!r}")
            except ComponentStartupError as exc:
                raise ComponentStartupError(f"{where}: spec.headers: {exc}") from None
        tls = None
        if ep.client_tls is not None:
            try:
                tls = await _client_context(ep, components)
            except (ssl.SSLError, ValueError) as exc:
                raise ComponentStartupError(f"{where}: spec.clientTLS: {exc}") from None
            except ComponentStartupError as exc:
                raise ComponentStartupError(f"{where}: spec.clientTLS: {exc}") from None
        resolved[ep.name] = Endpoint(ep.name, ep.base_url, headers, tls)
    return resolved


async def _document(doc: TLSDocument | None, ep: HTTPEndpoint, components: ComponentStore, what: str) -> str:
    if doc is None:
        return ""
    if doc.secret_key_ref is not None:
        return await components.secret(ep.secret_store, doc.secret_key_ref, what)
    return doc.value or ""


async def _client_context(ep: HTTPEndpoint, components: ComponentStore) -> ssl.SSLContext:
    assert ep.client_tls is not None
    root_ca = await _document(ep.client_tls.root_ca, ep, components, "rootCA")
    certificate = await _document(ep.client_tls.certificate, ep, components, "certificate")
    private_key = await _document(ep.client_tls.private_key, ep, components, "privateKey")
    ctx = ssl.create_default_context(cadata=root_ca) if root_ca else ssl.create_default_context()
    if bool(certificate) != bool(private_key):
        raise ValueError("certificate and privateKey go together")
    if certificate:
        # The ssl module loads a key pair only from files: write them, private to us, for a moment.
        with tempfile.TemporaryDirectory() as tmp:
            cert_path, key_path = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
            for path, text in ((cert_path, certificate), (key_path, private_key)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with contextlib.closing(os.fdopen(fd, "w")) as f:
                    f.write(text)
            ctx.load_cert_chain(cert_path, key_path)
    return ctx
