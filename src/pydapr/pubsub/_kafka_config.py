"""``pubsub.kafka`` metadata: parsing and validation, kept apart from the client so it tests alone.

Field names, defaults and checks follow Dapr's Kafka component (``authType`` is required, the legacy
``authRequired`` is mapped to it, ``consumeRetryInterval`` without a unit is milliseconds, TLS is off
when ``authType`` is ``none`` or ``disableTls`` is true).
"""

from __future__ import annotations

import logging
import os
import re
import ssl
import tempfile
from dataclasses import dataclass, field

from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.pubsub.contract import consumer_id, parse_duration

log = logging.getLogger("pydapr.pubsub.kafka")

AUTH_NONE = "none"
AUTH_PASSWORD = "password"
AUTH_MTLS = "mtls"
AUTH_CERTIFICATE = "certificate"
_SUPPORTED_AUTH = (AUTH_NONE, AUTH_PASSWORD, AUTH_MTLS, AUTH_CERTIFICATE)
_UNSUPPORTED_AUTH = ("oidc", "awsiam")

# saslMechanism as Dapr spells it (and the standard names), to the SASL mechanism aiokafka expects.
_SASL_MECHANISMS = {
    "": "PLAIN",
    "plain": "PLAIN",
    "plaintext": "PLAIN",
    "sha-256": "SCRAM-SHA-256",
    "scram-sha-256": "SCRAM-SHA-256",
    "sha-512": "SCRAM-SHA-512",
    "scram-sha-512": "SCRAM-SHA-512",
}

_REBALANCE_STRATEGIES = ("range", "roundrobin", "sticky")
_VERSION = re.compile(r"^\d+(\.\d+){1,3}$")

DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    brokers: list[str]
    group: str
    client_id: str
    auth_type: str
    tls: bool
    sasl_mechanism: str | None = None  # None: no SASL
    sasl_username: str = ""
    sasl_password: str = field(default="", repr=False)
    ca_cert: str = ""
    client_cert: str = ""
    client_key: str = field(default="", repr=False)
    skip_verify: bool = False
    initial_offset: str = "newest"  # or "oldest"
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    consume_retry_enabled: bool = True
    consume_retry_interval: float = 0.1
    heartbeat_interval: float = 3.0
    session_timeout: float = 10.0
    rebalance_strategy: str = "range"
    concurrency: int = 10
    version: str = ""

    @property
    def security_protocol(self) -> str:
        if self.sasl_mechanism is not None:
            return "SASL_SSL" if self.tls else "SASL_PLAINTEXT"
        return "SSL" if self.tls else "PLAINTEXT"

    @property
    def auto_offset_reset(self) -> str:
        return "earliest" if self.initial_offset == "oldest" else "latest"


def _is_pem(value: str) -> bool:
    return "-----BEGIN" in value and "-----END" in value


def parse_settings(meta: ComponentMetadata) -> KafkaSettings:
    """The component's settings, or ComponentConfigError naming the field that is wrong."""
    name = meta.name

    def bad(field_name: str, problem: str) -> ComponentConfigError:
        return ComponentConfigError(name, field_name, problem)

    brokers = [b.strip() for b in (meta.get("brokers") or "").split(",") if b.strip()]
    if not brokers:
        raise bad("brokers", "is required (comma-separated host:port list)")

    auth_type = (meta.get("authType") or "").strip().lower()
    if not auth_type:
        legacy = meta.get("authRequired")
        if legacy is None or legacy == "":
            raise bad("authType", f"is required: one of {', '.join(_SUPPORTED_AUTH)}")
        log.warning("kafka %s: authRequired is deprecated, use authType", name)
        if meta.get_bool("authRequired"):
            auth_type = AUTH_PASSWORD if meta.get("saslPassword") else AUTH_MTLS
        else:
            auth_type = AUTH_NONE
    if auth_type in _UNSUPPORTED_AUTH:
        raise bad(
            "authType", f"{auth_type!r} is not supported by pydapr; use one of {', '.join(_SUPPORTED_AUTH)}"
        )
    if auth_type not in _SUPPORTED_AUTH:
        raise bad("authType", f"invalid value {auth_type!r}: one of {', '.join(_SUPPORTED_AUTH)}")

    disable_tls = meta.get_bool("disableTls")
    skip_verify = meta.get_bool("skipVerify")
    ca_cert = meta.get("caCert") or ""
    client_cert = meta.get("clientCert") or ""
    client_key = meta.get("clientKey") or ""
    if ca_cert and not _is_pem(ca_cert):
        raise bad("caCert", "is not a PEM certificate")

    sasl_mechanism: str | None = None
    username = password = ""
    if auth_type == AUTH_PASSWORD:
        username = meta.get("saslUsername") or ""
        password = meta.get("saslPassword") or ""
        if not username:
            raise bad("saslUsername", "is required for authType 'password'")
        if not password:
            raise bad("saslPassword", "is required for authType 'password'")
        mechanism = (meta.get("saslMechanism") or "").strip().lower()
        if mechanism not in _SASL_MECHANISMS:
            raise bad("saslMechanism", f"invalid value {mechanism!r}: PLAINTEXT, SHA-256 or SHA-512")
        sasl_mechanism = _SASL_MECHANISMS[mechanism]
    elif auth_type == AUTH_MTLS:
        if disable_tls:
            raise bad("disableTls", "mTLS authentication needs TLS; disableTls must not be true")
        if not client_cert or not client_key:
            raise bad("clientCert" if not client_cert else "clientKey", "is required for authType 'mtls'")
        if not _is_pem(client_cert):
            raise bad("clientCert", "is not a PEM certificate")
        if not _is_pem(client_key):
            raise bad("clientKey", "is not a PEM private key")
    elif auth_type == AUTH_CERTIFICATE and not ca_cert:
        raise bad("caCert", "is required for authType 'certificate'")
    # As in Dapr: authType none means a plain connection, whatever disableTls says.
    tls = not disable_tls and auth_type != AUTH_NONE

    initial_offset = (meta.get("initialOffset") or "newest").strip().lower()
    if initial_offset not in ("newest", "oldest"):
        raise bad("initialOffset", f"invalid value {initial_offset!r}: newest or oldest")

    max_bytes = meta.get_int("maxMessageBytes", 0)
    if max_bytes < 0:
        raise bad("maxMessageBytes", "must not be negative")

    raw_interval = (meta.get("consumeRetryInterval") or "").strip()
    try:
        # A bare number is milliseconds here (Dapr's rule for this field only).
        retry_interval = (
            int(raw_interval) / 1000 if raw_interval.isdigit() else parse_duration(raw_interval, 0.1)
        )
        heartbeat = parse_duration(meta.get("heartbeatInterval"), 3.0)
        session = parse_duration(meta.get("sessionTimeout"), 10.0)
    except ValueError as exc:
        raise bad("consumeRetryInterval/heartbeatInterval/sessionTimeout", str(exc)) from None

    strategy = (meta.get("consumerGroupRebalanceStrategy") or "range").strip().lower()
    if strategy not in _REBALANCE_STRATEGIES:
        raise bad(
            "consumerGroupRebalanceStrategy", f"invalid value {strategy!r}: range, roundrobin or sticky"
        )

    version = (meta.get("version") or "").strip()
    if version and not _VERSION.match(version):
        raise bad("version", f"invalid Kafka version {version!r}")

    concurrency = meta.get_int("concurrency", 10)
    if concurrency < 1:
        raise bad("concurrency", "must be at least 1")

    return KafkaSettings(
        brokers=brokers,
        group=meta.get("consumerGroup") or consumer_id(meta),
        client_id=meta.get("clientID") or meta.app_id or "pydapr",
        auth_type=auth_type,
        tls=tls,
        sasl_mechanism=sasl_mechanism,
        sasl_username=username,
        sasl_password=password,
        ca_cert=ca_cert,
        client_cert=client_cert,
        client_key=client_key,
        skip_verify=skip_verify,
        initial_offset=initial_offset,
        max_message_bytes=max_bytes or DEFAULT_MAX_MESSAGE_BYTES,
        consume_retry_enabled=meta.get_bool("consumeRetryEnabled", True),
        consume_retry_interval=retry_interval,
        heartbeat_interval=heartbeat,
        session_timeout=session,
        rebalance_strategy=strategy,
        concurrency=concurrency,
        version=version,
    )


def ssl_context(settings: KafkaSettings, component: str) -> ssl.SSLContext | None:
    """The TLS context for the brokers (CA, client certificate, skipVerify), None without TLS."""
    if not settings.tls:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if settings.ca_cert:
        try:
            ctx.load_verify_locations(cadata=settings.ca_cert)
        except (ssl.SSLError, ValueError) as exc:
            raise ComponentConfigError(component, "caCert", f"cannot be loaded: {exc}") from None
    if settings.skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if settings.client_cert and settings.client_key:
        # The ssl module loads key pairs from files only: write them where only we can read, briefly.
        with tempfile.TemporaryDirectory(prefix="pydapr-kafka-") as tmp:
            cert_path = os.path.join(tmp, "client.crt")
            key_path = os.path.join(tmp, "client.key")
            for path, text in ((cert_path, settings.client_cert), (key_path, settings.client_key)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(text)
            try:
                ctx.load_cert_chain(cert_path, key_path)
            except (ssl.SSLError, ValueError) as exc:
                raise ComponentConfigError(
                    component, "clientCert", f"client certificate and key do not load: {exc}"
                ) from None
    return ctx
