"""``pubsub.kafka`` without a broker: metadata parsing and validation, TLS setup, record mapping, and
an init that fails fast and clearly when nothing listens at ``brokers``."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from types import SimpleNamespace

import pytest

pytest.importorskip("aiokafka", reason="aiokafka (the pubsub.kafka driver) is not installed")

from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.components.registry import registry
from pydapr.pubsub._kafka_config import DEFAULT_MAX_MESSAGE_BYTES, parse_settings, ssl_context
from pydapr.pubsub.contract import FEATURE_BULK_PUBLISH, FEATURE_MESSAGE_TTL
from pydapr.pubsub.kafka import KafkaInitError, KafkaPubSub, _headers, _key, _message


def meta(app_id: str = "orders", **props: str) -> ComponentMetadata:
    base = {"brokers": "127.0.0.1:9092", "authType": "none"}
    base.update(props)
    return ComponentMetadata(
        name="kafka-pubsub", type="pubsub.kafka", version="v1", properties=base, app_id=app_id
    )


def config_error(**props: str) -> ComponentConfigError:
    with pytest.raises(ComponentConfigError) as info:
        parse_settings(meta(**props))
    return info.value


def test_defaults_follow_dapr() -> None:
    s = parse_settings(meta())
    assert s.brokers == ["127.0.0.1:9092"]
    assert s.group == "orders"  # the app id, like Dapr's consumerID default
    assert s.client_id == "orders"
    assert s.auth_type == "none"
    assert s.security_protocol == "PLAINTEXT"
    assert s.initial_offset == "newest" and s.auto_offset_reset == "latest"
    assert s.max_message_bytes == DEFAULT_MAX_MESSAGE_BYTES
    assert s.consume_retry_enabled is True
    assert s.consume_retry_interval == pytest.approx(0.1)
    assert s.concurrency == 10


def test_brokers_list_and_groups() -> None:
    s = parse_settings(meta(brokers=" k1:9092, k2:9093 ,", consumerID="billing", clientID="cli"))
    assert s.brokers == ["k1:9092", "k2:9093"]
    assert s.group == "billing"
    assert s.client_id == "cli"
    # consumerGroup wins over consumerID, as in Dapr.
    assert parse_settings(meta(consumerID="billing", consumerGroup="shared")).group == "shared"


def test_metadata_names_are_case_insensitive() -> None:
    s = parse_settings(meta(INITIALOFFSET="Oldest", clientid="c"))
    assert s.initial_offset == "oldest" and s.auto_offset_reset == "earliest"
    assert s.client_id == "c"


@pytest.mark.parametrize("brokers", ["", " , "])
def test_brokers_are_required(brokers: str) -> None:
    err = config_error(brokers=brokers)
    assert err.field_name == "brokers"
    assert "required" in str(err)


def test_auth_type_is_required() -> None:
    err = config_error(authType="")
    assert err.field_name == "authType"
    assert "none, password, mtls" in str(err)


def test_bad_auth_type() -> None:
    err = config_error(authType="kerberos")
    assert err.field_name == "authType"
    assert "'kerberos'" in str(err)


@pytest.mark.parametrize("auth", ["oidc", "awsiam"])
def test_dapr_auth_types_pydapr_lacks_are_refused_by_name(auth: str) -> None:
    err = config_error(authType=auth)
    assert "not supported by pydapr" in str(err)


def test_legacy_auth_required() -> None:
    props = {"authType": "", "authRequired": "true", "saslUsername": "u", "saslPassword": "p"}
    assert parse_settings(meta(**props)).auth_type == "password"
    assert parse_settings(meta(authType="", authRequired="false")).auth_type == "none"
    assert config_error(authType="", authRequired="maybe").field_name == "authRequired"


@pytest.mark.parametrize(
    ("mechanism", "expected"),
    [
        ("", "PLAIN"),
        ("PLAINTEXT", "PLAIN"),
        ("SHA-256", "SCRAM-SHA-256"),
        ("SHA-512", "SCRAM-SHA-512"),
        ("SCRAM-SHA-512", "SCRAM-SHA-512"),
    ],
)
def test_password_auth(mechanism: str, expected: str) -> None:
    s = parse_settings(meta(authType="password", saslUsername="u", saslPassword="p", saslMechanism=mechanism))
    assert s.sasl_mechanism == expected
    assert s.security_protocol == "SASL_SSL"  # TLS on by default, as in Dapr
    assert "sasl_password" not in repr(s)
    s = parse_settings(meta(authType="password", saslUsername="u", saslPassword="p", disableTls="true"))
    assert s.security_protocol == "SASL_PLAINTEXT"


def test_password_auth_needs_credentials() -> None:
    assert config_error(authType="password", saslPassword="p").field_name == "saslUsername"
    assert config_error(authType="password", saslUsername="u").field_name == "saslPassword"
    err = config_error(authType="password", saslUsername="u", saslPassword="p", saslMechanism="MD5")
    assert err.field_name == "saslMechanism"


def test_mtls_needs_a_key_pair_and_tls() -> None:
    assert (
        config_error(authType="mtls", clientKey="-----BEGIN K-----x-----END K-----").field_name
        == "clientCert"
    )
    assert (
        config_error(authType="mtls", clientCert="-----BEGIN C-----x-----END C-----").field_name
        == "clientKey"
    )
    assert config_error(authType="mtls", clientCert="not pem", clientKey="not pem").field_name == "clientCert"
    pem = "-----BEGIN X-----x-----END X-----"
    assert (
        config_error(authType="mtls", clientCert=pem, clientKey=pem, disableTls="true").field_name
        == "disableTls"
    )


def test_certificate_auth_needs_ca() -> None:
    assert config_error(authType="certificate").field_name == "caCert"
    assert config_error(authType="certificate", caCert="nope").field_name == "caCert"


def test_tls_is_off_for_auth_none() -> None:
    assert parse_settings(meta(disableTls="false")).tls is False
    assert ssl_context(parse_settings(meta()), "c") is None


@pytest.mark.parametrize(
    ("value", "seconds"), [("200", 0.2), ("200ms", 0.2), ("1s", 1.0), ("1m", 60.0), ("", 0.1)]
)
def test_consume_retry_interval_bare_numbers_are_milliseconds(value: str, seconds: float) -> None:
    assert parse_settings(meta(consumeRetryInterval=value)).consume_retry_interval == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("initialOffset", "latest"),
        ("consumeRetryInterval", "soon"),
        ("maxMessageBytes", "big"),
        ("maxMessageBytes", "-1"),
        ("version", "two"),
        ("consumerGroupRebalanceStrategy", "random"),
        ("consumeRetryEnabled", "perhaps"),
        ("disableTls", "perhaps"),
        ("concurrency", "0"),
    ],
)
def test_invalid_values(field: str, value: str) -> None:
    err = config_error(**{field: value})
    assert field in err.field_name


def test_accepted_values() -> None:
    s = parse_settings(
        meta(
            version="2.0.0",
            maxMessageBytes="2048",
            consumeRetryEnabled="false",
            consumerGroupRebalanceStrategy="sticky",
            heartbeatInterval="5s",
            sessionTimeout="15s",
            concurrency="3",
        )
    )
    assert s.version == "2.0.0"  # accepted and ignored: the protocol version is negotiated
    assert s.max_message_bytes == 2048
    assert s.consume_retry_enabled is False
    assert s.rebalance_strategy == "sticky"
    assert (s.heartbeat_interval, s.session_timeout, s.concurrency) == (5.0, 15.0, 3)


def test_tls_contexts() -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    client = ca.issue_cert("client.example")
    ca_pem = ca.cert_pem.bytes().decode()
    cert_pem = b"".join(blob.bytes() for blob in client.cert_chain_pems).decode()
    key_pem = client.private_key_pem.bytes().decode()

    s = parse_settings(meta(authType="certificate", caCert=ca_pem))
    ctx = ssl_context(s, "c")
    assert ctx is not None and ctx.verify_mode == ssl.CERT_REQUIRED and s.security_protocol == "SSL"

    s = parse_settings(meta(authType="mtls", caCert=ca_pem, clientCert=cert_pem, clientKey=key_pem))
    assert ssl_context(s, "c") is not None

    s = parse_settings(meta(authType="password", saslUsername="u", saslPassword="p", skipVerify="true"))
    ctx = ssl_context(s, "c")
    assert ctx is not None and ctx.verify_mode == ssl.CERT_NONE and not ctx.check_hostname

    other = trustme.CA().issue_cert("x")
    wrong_key = other.private_key_pem.bytes().decode()
    s = parse_settings(meta(authType="mtls", clientCert=cert_pem, clientKey=wrong_key))
    with pytest.raises(ComponentConfigError, match="client certificate and key do not load"):
        ssl_context(s, "c")


def test_key_and_headers_like_dapr() -> None:
    assert _key({"partitionKey": "k1"}) == b"k1"
    assert _key({"__key": "k2"}) == b"k2"
    assert _key({"other": "x"}) is None
    headers = _headers({"partitionKey": "k1", "correlationId": "c", "rawPayload": "true"}, "application/json")
    assert ("partitionKey", b"k1") in headers  # Dapr also sends the key as a header
    assert ("correlationId", b"c") in headers
    assert ("Content-Type", b"application/json") in headers
    assert all(name != "rawPayload" for name, _ in headers)


def test_record_to_message() -> None:
    record = SimpleNamespace(
        topic="t",
        partition=2,
        offset=41,
        timestamp=1700000000000,
        key=b"k",
        value=b"v",
        headers=[("Content-Type", b"text/plain"), ("correlationId", b"c")],
    )
    msg = _message(record)
    assert (msg.topic, msg.data, msg.content_type, msg.broker_id) == ("t", b"v", "text/plain", "2@41")
    assert msg.metadata == {
        "correlationId": "c",
        "__key": "k",
        "__topic": "t",
        "__partition": "2",
        "__offset": "41",
        "__timestamp": "1700000000000",
    }


def test_registered() -> None:
    assert isinstance(registry.create("pubsub.kafka", "v1"), KafkaPubSub)


async def test_bad_metadata_fails_init_before_connecting() -> None:
    comp = registry.create("pubsub.kafka", "v1")
    with pytest.raises(ComponentConfigError, match="authType"):
        await comp.init(meta(authType="bogus"))
    await comp.close()


async def test_unreachable_broker_fails_init_quickly_and_clearly() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    comp = registry.create("pubsub.kafka", "v1")
    started = time.monotonic()
    with pytest.raises(KafkaInitError) as info:
        # 5 s is the sidecar's default initTimeout; the component must give up well before it.
        await asyncio.wait_for(comp.init(meta(brokers=f"127.0.0.1:{port}")), 5)
    elapsed = time.monotonic() - started
    await comp.close()
    assert elapsed < 3, elapsed
    assert f"cannot connect to Kafka brokers 127.0.0.1:{port}" in str(info.value)
    assert f"(127.0.0.1:{port}: " in str(info.value)  # why, per broker


def test_no_native_ttl() -> None:
    features = KafkaPubSub().features()
    assert FEATURE_BULK_PUBLISH in features
    assert FEATURE_MESSAGE_TTL not in features  # the sidecar stamps expiration in the envelope
