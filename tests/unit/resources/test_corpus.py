"""The corpus: resource folders written to reproduce every shape the real files use.

The shapes come from a survey of the resource YAML in dapr/python-sdk (v1.18.3 examples/ and
tests/), dapr/quickstarts and dapr/samples; docs/resources.md lists which shape came from which
file. Each folder under ``corpus/`` is one ``--resources-path``. For every component the test
checks what a user and the component see: type, version, metadata values, secret references,
scopes, the implementation it resolves to, or, for a type pydapr lacks, the exact startup error.
"""
# ruff: noqa: E501  (expectations read best one per line)

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pydapr.components.registry import UnknownComponentType, registry
from pydapr.resources import (
    Component,
    ResourceError,
    SecretKeyRef,
    load_configuration,
    load_resources,
    registry_version,
)
from pydapr.sidecar.components import ComponentStartupError, ComponentStore

CORPUS = Path(__file__).parent / "corpus"
APP = "checkout"


@dataclass(frozen=True)
class Expected:
    """One component: what it is, what its metadata says, and what starting it does."""

    type: str
    version: str
    outcome: str  # "module:Class" it resolves to, or the whole startup error line
    metadata: dict[str, str] = field(default_factory=dict)
    secrets: tuple[tuple[str, SecretKeyRef], ...] = ()
    secret_store: str | None = None
    namespace: str | None = None
    scopes: tuple[str, ...] = ()
    init_timeout: float = 5.0


REDIS = "pydapr.state.redis:RedisStateStore"
IN_MEMORY = "pydapr.state.memory:InMemoryStateStore"
PG_V1 = "pydapr.state.postgres_v1:PostgresV1StateStore"
PG_V2 = "pydapr.state.postgres_v2:PostgresV2StateStore"


def unknown(file: str, name: str, type_version: str) -> str:
    return f'{file}: Component "{name}": unknown component type {type_version}'


COMPONENTS: dict[str, dict[str, Expected]] = {
    "sdk-versionless": {
        "configurationstore": Expected(
            "configuration.redis",
            "",
            "pydapr.configuration.redis:RedisConfigurationStore",
            {"redisHost": "localhost:6379"},
            namespace="default",
        ),
        "localsecretstore": Expected(
            "secretstores.local.file",
            "",
            "pydapr.secrets.local_file:LocalFileSecretStore",
            {"secretsFile": "secrets.json", "nestedSeparator": ":"},
            namespace="default",
        ),
        "lockstore": Expected(
            "lock.redis",
            "",
            "pydapr.lock.redis:RedisLockStore",
            {"redisHost": "localhost:6379", "redisPassword": ""},
            namespace="default",
        ),
        "pubsub": Expected(
            "pubsub.redis", "", "pydapr.pubsub.redis:RedisPubSub", {"redisHost": "localhost:6379"}
        ),
        "statestore": Expected(
            "state.redis",
            "",
            REDIS,
            {"redisHost": "localhost:6379", "redisPassword": "", "actorStateStore": "true"},
        ),
    },
    "sdk-versioned": {
        "localbinding": Expected(
            "bindings.localstorage",
            "V0",
            "pydapr.bindings.localstorage:LocalStorageBinding",
            {"rootPath": "./data"},
        ),
        "statestore": Expected(
            "state.redis",
            "v1",
            REDIS,
            {"redisHost": "localhost:6379", "redisPassword": "", "actorStateStore": "true"},
            init_timeout=60.0,
        ),
    },
    "unknown-types": {
        "native": Expected(
            "exporters.native",
            "v1",
            "started without it: "
            + unknown("unknown-types/exporter.yaml", "native", "exporters.native/v1")
            + " (ignored: spec.ignoreErrors is true)",
            {"enabled": "true"},
        ),
        "kafkaBinding": Expected(
            "bindings.kafka",
            "",
            unknown("unknown-types/kafka-binding.yaml", "kafkaBinding", "bindings.kafka/v1"),
            {
                "topics": "sample",
                "brokers": "localhost:9092",
                "consumerGroup": "group1",
                "publishTopic": "sample",
                "authRequired": "false",
            },
        ),
        "querystore": Expected(
            "state.mongodb",
            "v1",
            unknown("unknown-types/mongodb.yml", "querystore", "state.mongodb/v1"),
            {"host": "localhost:27017"},
        ),
        "oauth2": Expected(
            "middleware.http.oauth2",
            "v1",
            unknown("unknown-types/oauth2.yaml", "oauth2", "middleware.http.oauth2/v1"),
            {"clientId": "<client id>", "scopes": "https://www.googleapis.com/auth/userinfo.email"},
        ),
        "messagebus": Expected(
            "pubsub.azure.servicebus.topics",
            "v1",
            unknown("unknown-types/servicebus.yaml", "messagebus", "pubsub.azure.servicebus.topics/v1"),
            {
                "connectionString": "Endpoint=sb://example.servicebus.windows.net/;SharedAccessKeyName=x;SharedAccessKey=y"
            },
        ),
    },
    "k8s-deploy": {
        "statestore": Expected(
            "state.redis",
            "v1",
            REDIS,
            {"redisHost": "redis-master.default.svc.cluster.local:6379"},
            (("redisPassword", SecretKeyRef("redis", "redis-password")),),
            secret_store="kubernetes",
        ),
        "pubsub": Expected(
            "pubsub.redis", "v1", "pydapr.pubsub.redis:RedisPubSub", {"redisHost": "redis:6379"}
        ),
    },
    "values": {
        "values": Expected(
            "state.in-memory",
            "v1",
            IN_MEMORY,
            {
                "redisDB": "1",
                "authRequired": "false",
                "region": '["your-aws-region"]',
                "ratio": "0.5",
                "limits": '{"html":"\\u003cb\\u003e\\u0026\\u003c/b\\u003e","max":10}',
                "quotedNumber": "1",
                "empty": "",
                "absent": "",
                "date": "2024-01-02",
                "caCert": "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ\n-----END CERTIFICATE-----\n",
                "consumerID": "{uuid}",
                "group": "{appID}-group",
                "queue": "{namespace}",
                "literalBraces": "Bearer {SQUARE_SANDBOX_TOKEN}",
                "unicode": "café ✓",
            },
        ),
    },
    "secrets": {
        "envstore": Expected(
            "state.redis",
            "v1",
            REDIS,
            {"redisHost": "redis:6379"},
            (("redisPassword", SecretKeyRef("redis-password", "redis-password")),),
        ),
        "secretstore": Expected(
            "secretstores.local.file",
            "v1",
            "pydapr.secrets.local_file:LocalFileSecretStore",
            {"secretsFile": "secrets.json"},
        ),
        # The type is named even though its secret store is not loaded: the type is checked first.
        "tweet": Expected(
            "bindings.twitter",
            "v1",
            unknown("secrets/twitter.yaml", "tweet", "bindings.twitter/v1"),
            {"query": "cat"},
            (
                ("consumerKey", SecretKeyRef("Twitter:ConsumerKey", "Twitter:ConsumerKey")),
                ("accessToken", SecretKeyRef("twitter", "accessToken")),
            ),
            secret_store="secretstore",
        ),
    },
    "namespaced": {
        "cron": Expected(
            "bindings.cron",
            "v1",
            "pydapr.bindings.cron:CronBinding",
            {"schedule": "@every 10s", "direction": "input"},
            namespace="quickstarts",
        ),
        "sqldb": Expected(
            "bindings.postgres",
            "v1",
            "pydapr.bindings.postgres:PostgresBinding",
            {
                "url": "user=postgres password=docker host=localhost port=5432 dbname=orders pool_min_conns=1 pool_max_conns=10",
                "direction": "output",
            },
            namespace="quickstarts",
        ),
        "statestore": Expected("state.in-memory", "v1", IN_MEMORY, namespace="default"),
    },
    "aliases": {
        "mqtt-pubsub": Expected(
            "pubsub.mqtt", "v1", "pydapr.pubsub.mqtt3:MQTTPubSub", {"url": "tcp://localhost:1883"}
        ),
        "mqtt-binding": Expected(
            "bindings.mqtt", "", "pydapr.bindings.mqtt3:MQTTBinding", {"url": "tcp://localhost:1883"}
        ),
        "sqlite3": Expected(
            "state.sqlite3", "v1", "pydapr.state.sqlite:SQLiteStateStore", {"connectionString": "data.db"}
        ),
        "postgres-v2": Expected("state.postgres", "v2", PG_V2, {"connectionString": "host=localhost"}),
        "postgres-default": Expected("state.postgresql", "", PG_V1, {"connectionString": "host=localhost"}),
        "yugabyte": Expected("state.yugabytedb", "", PG_V2, {"connectionString": "host=localhost"}),
        "config-postgres": Expected(
            "configuration.postgres",
            "v1",
            "pydapr.configuration.postgres:PostgresConfigurationStore",
            {"connectionString": "host=localhost"},
        ),
        "mixed-case": Expected("state.Redis", "V1", REDIS, {"redisHost": "localhost:6379"}),
    },
    "other-kinds": {
        "statestore": Expected("state.in-memory", "v1", IN_MEMORY),
    },
    "config": {},
    "resiliency": {},
    "subscriptions": {},
    "http-endpoint": {},
}


@pytest.fixture(autouse=True)
def _in_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    # Relative paths keep the asserted messages identical to what a user sees.
    monkeypatch.chdir(CORPUS)
    monkeypatch.delenv("NAMESPACE", raising=False)
    monkeypatch.delenv("DAPR_ENV_KEYS", raising=False)
    monkeypatch.setenv("PYDAPR_CORPUS_REDIS_HOST", "redis:6379")


def _load(case: str) -> list[Component]:
    return load_resources([Path(case)], app_id=APP).components


async def _outcome(spec: Component, caplog: pytest.LogCaptureFixture) -> str:
    type_name = spec.type.lower()
    try:
        cls = registry.resolve(
            type_name, registry_version(spec.version, registry.known_types().get(type_name, []))
        )
    except UnknownComponentType:
        store = ComponentStore(app_id=APP, namespace="default", base_dir=Path.cwd())
        caplog.clear()
        try:
            await store.load_all([spec])
        except ComponentStartupError as exc:
            return str(exc)
        return "started without it: " + " / ".join(caplog.messages)
    return f"{cls.__module__}:{cls.__qualname__}"


def test_every_corpus_folder_is_checked() -> None:
    assert sorted(p.name for p in CORPUS.iterdir() if p.is_dir()) == sorted(COMPONENTS)


@pytest.mark.parametrize("case", sorted(COMPONENTS))
async def test_corpus_components(case: str, caplog: pytest.LogCaptureFixture) -> None:
    specs = _load(case)
    assert sorted(spec.name for spec in specs) == sorted(COMPONENTS[case])
    for spec in specs:
        expected = COMPONENTS[case][spec.name]
        seen = Expected(
            type=spec.type,
            version=spec.version,
            outcome=await _outcome(spec, caplog),
            metadata=spec.plain_metadata(),
            secrets=tuple(spec.secret_refs()),
            secret_store=spec.secret_store,
            namespace=spec.namespace,
            scopes=spec.scopes,
            init_timeout=spec.init_timeout,
        )
        assert seen == expected, spec.name


async def test_values_as_the_component_sees_them() -> None:
    # Started for real (an in-memory store needs no server): Dapr's placeholders are filled in.
    (spec,) = _load("values")
    store = ComponentStore(app_id=APP, namespace="default", base_dir=Path.cwd())
    await store.load_all([spec])
    try:
        (loaded,) = store.all()
        seen = dict(loaded.metadata.properties)
    finally:
        await store.close_all()
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", seen.pop("consumerID")
    )
    expected = dict(COMPONENTS["values"]["values"].metadata)
    del expected["consumerID"]
    expected.update(group="checkout-group", queue="default.checkout")
    assert seen == expected


def test_skipped_files_and_documents_say_why(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="pydapr.resources")
    _load("k8s-deploy")
    _load("other-kinds")
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [
        "skipping document 1 of k8s-deploy/processor.yaml: invalid YAML at line 8, column 12: found unhashable key",
        "skipping document 1 of other-kinds/weather.yaml: pydapr does not support MCPServer resources yet",
    ]
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert "skipping k8s-deploy/notes.txt: not a .yaml or .yml file" in debug
    assert "skipping document 2 of k8s-deploy/app.yaml: kind 'Deployment' is not a Dapr resource" in debug
    # Dapr's splitter joins a `---` that directly follows another to the next document.
    assert "skipping document 3 of other-kinds/statestore.yaml: apiVersion v1 is not Dapr's" in debug


def test_namespaced_components_follow_the_sidecar_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAMESPACE", "default")
    found = load_resources([Path("namespaced")], app_id=APP, namespace="default").components
    assert [spec.name for spec in found] == ["statestore"]
    monkeypatch.setenv("NAMESPACE", "quickstarts")
    found = load_resources([Path("namespaced")], app_id=APP, namespace="quickstarts").components
    assert [spec.name for spec in found] == ["cron", "sqldb"]


def test_corpus_configurations_load_from_a_folder_and_as_config() -> None:
    folder = {conf.name: conf for conf in load_resources([Path("config")], app_id=APP).configurations}
    assert sorted(folder) == ["daprConfig", "pipeline", "secretsConfig"]
    tracing = load_configuration(Path("config/tracing.yaml"))
    assert (
        tracing.name,
        tracing.namespace,
        tracing.tracing.sampling_rate,
        tracing.tracing.zipkin_endpoint,
    ) == (
        "daprConfig",
        "default",
        1.0,
        "http://localhost:9411/api/v2/spans",
    )
    assert tracing.features == {"proxy.grpc": True}
    secrets = load_configuration(Path("config/secrets.yaml"))
    scope = secrets.secret_scopes["localsecretstore"]
    assert (
        scope.default_access,
        scope.allowed,
        scope.is_allowed("secretKey"),
        scope.is_allowed("other"),
    ) == (
        "deny",
        ("secretKey",),
        True,
        False,
    )
    pipeline = load_configuration(Path("config/pipeline.yaml"))
    # tracing.enabled, expandParams and includeBody are gone from Dapr: ignored, default rate.
    assert (pipeline.tracing.sampling_rate, pipeline.http_pipeline) == (0.0001, ("msgraphsp",))
    assert pipeline.http_handlers[0].type == "middleware.http.oauth2clientcredentials"


def test_corpus_resiliency() -> None:
    (res,) = load_resources([Path("resiliency")], app_id=APP).resiliencies
    assert (res.name, res.scopes, res.timeouts) == ("myresiliency", ("checkout",), {})
    retry = res.retries["retryForever"]
    assert (retry.policy, retry.duration, retry.max_retries) == ("constant", 5.0, -1)
    breaker = res.circuit_breakers["simpleCB"]
    assert (breaker.max_requests, breaker.timeout, breaker.trip) == (1, 5.0, "consecutiveFailures >= 5")
    app = res.targets.apps["order-processor"]
    assert (app.retry, app.circuit_breaker, app.circuit_breaker_cache_size) == (
        "retryForever",
        "simpleCB",
        100,
    )
    outbound = res.targets.components["statestore"].outbound
    assert (outbound.retry, outbound.circuit_breaker) == ("retryForever", "simpleCB")
    assert load_resources([Path("resiliency")], app_id="other").resiliencies == []


def test_corpus_subscriptions() -> None:
    subs = {s.name: s for s in load_resources([Path("subscriptions")], app_id=APP).subscriptions}
    assert sorted(subs) == ["myevent-subscription", "mysubscriptions", "shipment-registration"]
    routing = subs["mysubscriptions"]
    assert (routing.pubsub_name, routing.topic, routing.namespace, routing.default_route) == (
        "pubsub",
        "inventory",
        "default",
        "products",
    )
    assert [(rule.match, rule.path) for rule in routing.rules] == [
        ("event.type == 'widget'", "widgets"),
        ("event.type == 'gadget'", "gadgets"),
    ]
    shipping = subs["shipment-registration"]
    assert (shipping.default_route, shipping.rules, shipping.scopes) == (
        "/registerShipment",
        (),
        ("checkout",),
    )
    v1 = subs["myevent-subscription"]
    assert (v1.api_version, v1.route, v1.metadata, v1.scopes) == (
        "dapr.io/v1alpha1",
        "/neworder",
        {"rawPayload": "true"},
        ("checkout", "mynode"),
    )
    others = load_resources([Path("subscriptions")], app_id="mynode").subscriptions
    assert [s.name for s in others] == ["mysubscriptions", "myevent-subscription"]


def test_corpus_http_endpoint() -> None:
    (endpoint,) = load_resources([Path("http-endpoint")], app_id=APP).http_endpoints
    assert (endpoint.name, endpoint.base_url) == ("stripe-payment", "https://connect.squareupsandbox.com")
    # {SQUARE_API_VERSION} is not one of Dapr's placeholders: it stays as written.
    assert endpoint.plain_headers() == {
        "Square-Version": "{SQUARE_API_VERSION}",
        "Content-Type": "application/json",
    }


def test_all_corpus_folders_together_clash_only_by_name() -> None:
    # One --resources-path per folder, all at once: only the statestore names collide.
    folders = sorted(Path(p.name) for p in CORPUS.iterdir() if p.is_dir())
    with pytest.raises(ResourceError) as info:
        load_resources(folders, app_id=APP)
    assert str(info.value) == (
        'namespaced/statestore.yaml: Component "statestore": metadata.name: duplicate name, also defined in k8s-deploy/redis.yaml'
    )
