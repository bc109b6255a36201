"""A workload's X.509 SVID: obtained at startup, renewed before it expires, handed to every TLS user.

The private key is made here and never leaves the process: Sentry gets a certificate request. Each
renewal makes a new key (as daprd) when 70% of the certificate's life has passed; a failed renewal
is retried with backoff while the current certificate is still valid. Users of the identity read
``current`` when they make a TLS context or channel, and register ``on_rotate`` to make new ones;
connections already open keep their handshake, so a rotation drops no call.

Python's ``ssl`` loads a certificate and key only from files: each is written to a private
directory (mode 0700), loaded and deleted at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import ssl
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from .ca import CertificateAuthority, key_pem, make_csr, new_key
from .spiffe import SpiffeId

log = logging.getLogger("pydapr.security")

RENEW_AT = 0.7  # of the certificate's lifetime
_RETRY_FIRST, _RETRY_MAX = 0.5, 10.0


@dataclass(frozen=True, slots=True)
class Svid:
    identity: SpiffeId
    key_pem: bytes
    chain_pem: bytes  # the leaf, then its issuers
    trust_anchors_pem: bytes
    not_before: dt.datetime
    not_after: dt.datetime

    @property
    def renew_at(self) -> dt.datetime:
        return self.not_before + (self.not_after - self.not_before) * RENEW_AT


# Given a PEM CSR for the identity, returns (PEM chain, PEM trust anchors).
Signer = Callable[[SpiffeId, bytes], Awaitable[tuple[bytes, bytes]]]


class IdentityError(Exception):
    """No certificate could be obtained (the message says from where and why). ``reason`` is daprd's
    word for what failed, as its rotation failure metric labels it: ``sentry_conn`` (the certificate
    authority could not be reached) or ``sign`` (it refused, or answered with no valid certificate)."""

    def __init__(self, message: str, reason: str = "sign") -> None:
        super().__init__(message)
        self.reason = reason


class WorkloadIdentity:
    def __init__(self, identity: SpiffeId, signer: Signer) -> None:
        self.identity = identity
        self._signer = signer
        self._svid: Svid | None = None
        self._listeners: list[Callable[[Svid], None]] = []
        self._failure_listeners: list[Callable[[str], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._server_contexts: list[ssl.SSLContext] = []
        self._client_contexts: list[ssl.SSLContext] = []
        self.rotations = 0

    @classmethod
    def from_ca(
        cls, identity: SpiffeId, ca: CertificateAuthority, ttl: dt.timedelta, skew: dt.timedelta
    ) -> WorkloadIdentity:
        """An identity of the control plane itself, signed by the CA it holds."""

        async def sign(who: SpiffeId, csr: bytes) -> tuple[bytes, bytes]:
            return ca.sign_csr(csr, who, ttl=ttl, skew=skew).pem, ca.trust_anchors_pem

        return cls(identity, sign)

    @property
    def current(self) -> Svid:
        if self._svid is None:
            raise RuntimeError("the identity has no certificate yet (start() it first)")
        return self._svid

    async def start(self) -> None:
        """Obtains the first certificate (raising IdentityError), then renews it in the background."""
        self._svid = await self._obtain()
        log.info("certificate for %s issued, valid until %s", self.identity, self._svid.not_after.isoformat())
        self._task = asyncio.create_task(self._renew_forever(), name=f"svid-renewal {self.identity}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def on_rotate(self, listener: Callable[[Svid], None]) -> None:
        self._listeners.append(listener)

    def on_rotation_failure(self, listener: Callable[[str], None]) -> None:
        """``listener(reason)`` after each renewal that failed (``IdentityError.reason``)."""
        self._failure_listeners.append(listener)

    async def _obtain(self) -> Svid:
        key = new_key()
        chain_pem, anchors_pem = await self._signer(self.identity, make_csr(key, self.identity))
        try:
            leaf = x509.load_pem_x509_certificate(chain_pem)
            x509.load_pem_x509_certificates(anchors_pem)
        except ValueError as exc:
            raise IdentityError(
                f"the certificate authority answered with no valid certificate: {exc}"
            ) from None
        return Svid(
            self.identity,
            key_pem(key),
            chain_pem,
            anchors_pem,
            leaf.not_valid_before_utc,
            leaf.not_valid_after_utc,
        )

    async def _renew_forever(self) -> None:
        delay = _RETRY_FIRST
        while True:
            svid = self.current
            wait = (svid.renew_at - dt.datetime.now(dt.UTC)).total_seconds()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                fresh = await self._obtain()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                left = (svid.not_after - dt.datetime.now(dt.UTC)).total_seconds()
                log.warning(
                    "renewing the certificate of %s failed (%s left): %s", self.identity, f"{left:.0f}s", exc
                )
                reason = exc.reason if isinstance(exc, IdentityError) else "sign"
                for failed in self._failure_listeners:
                    failed(reason)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX)
                continue
            delay = _RETRY_FIRST
            self._install(fresh)

    def _install(self, svid: Svid) -> None:
        old = self._svid
        self._svid = svid
        self.rotations += 1
        new_anchors = old is None or svid.trust_anchors_pem != old.trust_anchors_pem
        for ctx in (*self._server_contexts, *self._client_contexts):
            if new_anchors:  # the bundle Sentry sent: added, so peers on the old roots still verify
                ctx.load_verify_locations(cadata=svid.trust_anchors_pem.decode())
            _load(ctx, svid)
        log.info("certificate for %s renewed, valid until %s", self.identity, svid.not_after.isoformat())
        for listener in self._listeners:
            try:
                listener(svid)
            except Exception:
                log.exception("a certificate rotation listener failed")

    # --- TLS contexts that follow rotation -------------------------------------------------------
    def server_context(self) -> ssl.SSLContext:
        """Server side: a client certificate from the trust anchors is required."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=self.current.trust_anchors_pem.decode())
        _load(ctx, self.current)
        self._server_contexts.append(ctx)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """Client side: the server is checked against the trust anchors and the host name the caller
        gives (``spiffe.dns_name`` of the app it means to reach)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_verify_locations(cadata=self.current.trust_anchors_pem.decode())
        _load(ctx, self.current)
        self._client_contexts.append(ctx)
        return ctx


def _load(ctx: ssl.SSLContext, svid: Svid) -> None:
    """Loads the SVID into ``ctx`` for its next handshakes (the open ones keep theirs)."""
    with tempfile.TemporaryDirectory(prefix="pydapr-svid-") as tmp:  # created 0700
        key, chain = Path(tmp) / "key.pem", Path(tmp) / "chain.pem"
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(svid.key_pem)
        chain.write_bytes(svid.chain_pem)
        ctx.load_cert_chain(chain, key)
