"""load_resources and load_configuration: kinds, Dapr's rules, and the exact error lines."""
# ruff: noqa: E501  (the error tables read best one case per line)

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pydapr.resources import (
    ResourceError,
    Resources,
    SecretKeyRef,
    load_configuration,
    load_resources,
)

RES = Path("resources")


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Relative paths keep the asserted messages identical to what a user sees.
    monkeypatch.chdir(tmp_path)
    (tmp_path / RES).mkdir()


def write(name: str, text: str, folder: Path = RES) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load(app_id: str = "myapp", namespace: str = "default", *paths: Path) -> Resources:
    return load_resources(list(paths) or [RES], app_id=app_id, namespace=namespace)


def error(app_id: str = "myapp", *paths: Path) -> str:
    with pytest.raises(ResourceError) as info:
        load(app_id, "default", *paths)
    return str(info.value)


COMPONENT = """
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: {name}
spec:
  type: state.redis
  version: v1
  metadata:
  - name: redisHost
    value: localhost:6379
"""


# --- reading folders and files ---------------------------------------------------------------


def test_docs_component_example_loads() -> None:
    write(
        "messagebus.yaml",
        """
        apiVersion: dapr.io/v1alpha1
        kind: Component
        metadata:
          name: messagebus
        spec:
          type: pubsub.mqtt3
          version: v1
          metadata:
            - name: consumerID
              value: "{uuid}"
            - name: url
              value: "tcp://admin:public@localhost:1883"
            - name: qos
              value: 1
            - name: retain
              value: "false"
            - name: cleanSession
              value: "false"
        """,
    )
    (comp,) = load().components
    assert comp.name == "messagebus"
    assert comp.type == "pubsub.mqtt3"
    assert comp.family == "pubsub"
    assert comp.version == "v1"
    assert comp.init_timeout == 5.0
    assert comp.ignore_errors is False
    assert comp.secret_store is None
    assert comp.source == RES / "messagebus.yaml"
    assert comp.plain_metadata() == {
        "consumerID": "{uuid}",
        "url": "tcp://admin:public@localhost:1883",
        "qos": "1",
        "retain": "false",
        "cleanSession": "false",
    }


def test_multi_document_files_skip_other_kinds_and_empty_documents() -> None:
    write(
        "all.yaml",
        """
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
        ---
        ---
        apiVersion: dapr.io/v1alpha1
        kind: Component
        metadata:
          name: one
        spec: {type: state.in-memory, version: v1}
        ---
        apiVersion: v1
        kind: Configuration
        metadata:
          name: not-dapr
        ---
        apiVersion: dapr.io/v1alpha1
        kind: MCPServer
        metadata:
          name: skipped
        ---
        apiVersion: dapr.io/v1alpha1
        kind: Component
        metadata:
          name: two
        spec: {type: pubsub.in-memory, version: v1}
        """,
    )
    assert [c.name for c in load().components] == ["one", "two"]


def test_files_are_read_in_name_order_across_folders_and_only_yaml() -> None:
    write("b.yml", COMPONENT.format(name="b"))
    write("a.yaml", COMPONENT.format(name="a"))
    write("notes.txt", "not: yaml: at all")
    write("sub/c.yaml", COMPONENT.format(name="nested"))
    write("d.yaml", COMPONENT.format(name="d"), folder=Path("more"))
    names = [c.name for c in load("myapp", "default", RES, Path("more")).components]
    assert names == ["a", "b", "d"]


def test_empty_folder_and_empty_file_are_fine() -> None:
    write("empty.yaml", "")
    assert load() == Resources()


def test_missing_folder_is_an_error() -> None:
    assert error("myapp", Path("nowhere")) == "nowhere: resources directory not found"


def test_folder_that_is_a_file_is_an_error() -> None:
    write("x.yaml", COMPONENT.format(name="x"))
    assert error("myapp", RES / "x.yaml") == "resources/x.yaml: not a directory"


def test_invalid_yaml_names_line_and_column() -> None:
    write("bad.yaml", "apiVersion: dapr.io/v1alpha1\nmetadata:\n  name: x\n   spec: y\n")
    assert error() == (
        "resources/bad.yaml: invalid YAML at line 4, column 8: mapping values are not allowed in this context"
    )


def test_invalid_yaml_in_a_later_document_names_the_line_in_the_file() -> None:
    write("bad.yaml", COMPONENT.format(name="a") + "---\nkind: Component\nmetadata: {name: [b}\n")
    assert error() == (
        "resources/bad.yaml: invalid YAML at line 13, column 20: did not find expected ',' or ']'"
    )


def test_broken_yaml_that_is_not_a_dapr_resource_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    # A Helm template shares the folder with a component, as in dapr/samples' demochart.
    helm = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  labels:\n    demo: {{ .Values.demoName }}\n"
    write("chart.yaml", helm + "---\n" + COMPONENT.format(name="kept"))
    assert [c.name for c in load().components] == ["kept"]
    assert caplog.messages == [
        "skipping document 1 of resources/chart.yaml: invalid YAML at line 5, column 12: found unhashable key"
    ]


def test_unclosed_quote_is_reported() -> None:
    write("bad.yaml", 'kind: "Component\n')
    assert error() == ("resources/bad.yaml: invalid YAML at line 2, column 1: found unexpected end of stream")


def test_documents_that_are_not_mappings_are_skipped() -> None:
    # An Ansible playbook or a bare scalar is not a Dapr resource; Dapr passes them by too.
    write("list.yaml", "---\nkind: Deployment\n---\n- a\n- b\n---\njust text\n")
    write("c.yaml", COMPONENT.format(name="c"))
    assert [c.name for c in load().components] == ["c"]


def test_timestamps_stay_text() -> None:
    write(
        "ts.yaml",
        """
        apiVersion: dapr.io/v1alpha1
        kind: Component
        metadata: {name: ts}
        spec:
          type: bindings.cron
          version: v1
          metadata:
          - name: start
            value: 2024-01-02
        """,
    )
    assert load().components[0].plain_metadata() == {"start": "2024-01-02"}


# --- scopes, namespaces, duplicates ----------------------------------------------------------


def _scoped(name: str, scopes: str) -> str:
    return COMPONENT.format(name=name) + f"scopes: {scopes}\n"


def test_scopes_keep_only_resources_for_this_app() -> None:
    write("a.yaml", _scoped("mine", "[myapp, other]"))
    write("b.yaml", _scoped("theirs", "[other]"))
    write("c.yaml", _scoped("everyone", "[]"))
    write("d.yaml", _scoped("unscoped", "null"))
    assert [c.name for c in load().components] == ["mine", "everyone", "unscoped"]
    assert load().components[0].scopes == ("myapp", "other")


def test_scoped_out_resources_are_not_validated() -> None:
    write("a.yaml", "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: x}\nscopes: [other]\n")
    assert load().components == []


def test_namespace_filter_applies_when_the_sidecar_namespace_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAMESPACE", "default")
    write("a.yaml", COMPONENT.format(name="a").replace("  name: a", "  name: a\n  namespace: default"))
    write("b.yaml", COMPONENT.format(name="b").replace("  name: b", "  name: b\n  namespace: prod"))
    write("c.yaml", COMPONENT.format(name="c"))
    assert [(c.name, c.namespace) for c in load().components] == [("a", "default"), ("c", None)]
    assert [c.name for c in load("myapp", "prod").components] == ["b", "c"]


def test_without_a_sidecar_namespace_every_namespace_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    # daprd compares namespaces only when $NAMESPACE is set; dapr/quickstarts' bindings
    # components say namespace: quickstarts and load under plain `dapr run`.
    monkeypatch.delenv("NAMESPACE", raising=False)
    write("a.yaml", COMPONENT.format(name="a").replace("  name: a", "  name: a\n  namespace: quickstarts"))
    write("b.yaml", COMPONENT.format(name="b"))
    assert [(c.name, c.namespace) for c in load().components] == [("a", "quickstarts"), ("b", None)]
    only_default = load_resources([RES], app_id="myapp", namespace="default", filter_namespace=True)
    assert [c.name for c in only_default.components] == ["b"]


def test_duplicates_across_files_name_both_files() -> None:
    write("a.yaml", COMPONENT.format(name="statestore"))
    write("b.yaml", COMPONENT.format(name="statestore"))
    assert error() == (
        'resources/b.yaml: Component "statestore": metadata.name: '
        "duplicate name, also defined in resources/a.yaml"
    )


def test_duplicates_within_one_file() -> None:
    write("a.yaml", COMPONENT.format(name="s") + "---\n" + COMPONENT.format(name="s"))
    assert error() == (
        'resources/a.yaml: Component "s": metadata.name: duplicate name, also defined earlier in this file'
    )


def test_duplicates_across_folders() -> None:
    write("a.yaml", COMPONENT.format(name="s"))
    write("a.yaml", COMPONENT.format(name="s"), folder=Path("more"))
    assert error("myapp", RES, Path("more")) == (
        'more/a.yaml: Component "s": metadata.name: duplicate name, also defined in resources/a.yaml'
    )


def test_same_name_in_different_kinds_is_fine() -> None:
    write("a.yaml", COMPONENT.format(name="s"))
    write("c.yaml", "apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata: {name: s}\n")
    res = load()
    assert len(res.components) == 1
    assert len(res.resiliencies) == 1


def test_same_name_scoped_to_another_app_is_still_a_duplicate() -> None:
    # Dapr checks names before scopes, so daprd refuses this folder for every app.
    write("a.yaml", _scoped("s", "[myapp]"))
    write("b.yaml", _scoped("s", "[other]"))
    assert (
        error()
        == 'resources/b.yaml: Component "s": metadata.name: duplicate name, also defined in resources/a.yaml'
    )
    assert (
        error("other")
        == 'resources/b.yaml: Component "s": metadata.name: duplicate name, also defined in resources/a.yaml'
    )


def test_resiliencies_with_one_name_all_load() -> None:
    write("a.yaml", "apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata: {name: r}\n")
    write("b.yaml", "apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata: {name: r}\n")
    assert [r.source for r in load().resiliencies] == [RES / "a.yaml", RES / "b.yaml"]


# --- component rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{version: v1}", 'Component "statestore": spec.type: field required'),
        ("{type: redis, version: v1}", 'Component "statestore": spec.type: "redis" is not of the form family.name, like state.redis'),
        ("{type: [state.redis]}", 'Component "statestore": spec.type: expected a string, got a list'),
        ("{type: state.redis, version: {v: 1}}", 'Component "statestore": spec.version: expected a string, got a mapping'),
        ("{type: state.redis, version: v1, ignoreErrors: maybe}", 'Component "statestore": spec.ignoreErrors: expected true or false, got string "maybe"'),
        ("{type: state.redis, version: v1, initTimeout: 0s}", 'Component "statestore": spec.initTimeout: must be greater than zero'),
        ("{type: state.redis, version: v1, metadata: {a: b}}", 'Component "statestore": spec.metadata: expected a list, got a mapping'),
        ("{type: state.redis, version: v1, metadata: [{name: [x]}]}", 'Component "statestore": spec.metadata[0].name: expected a string, got a list'),
        ("{type: state.redis, version: v1, metadata: [x]}", 'Component "statestore": spec.metadata[0]: expected a mapping, got string "x"'),
        ("[1]", 'Component "statestore": spec: expected a mapping, got a list'),
    ],
)  # fmt: skip
def test_component_spec_errors(spec: str, message: str) -> None:
    write(
        "statestore.yaml",
        f"apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: statestore\nspec: {spec}\n",
    )
    assert error() == f"resources/statestore.yaml: {message}"


def test_unreadable_init_timeout_falls_back_to_five_seconds(caplog: pytest.LogCaptureFixture) -> None:
    # daprd uses its 5s default when initTimeout does not parse.
    write(
        "a.yaml",
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: a}\nspec: {type: state.redis, initTimeout: '10'}\n",
    )
    write(
        "b.yaml",
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: b}\nspec: {type: state.redis, initTimeout: 10}\n",
    )
    assert [c.init_timeout for c in load().components] == [5.0, 5.0]
    assert caplog.messages == [
        'resources/a.yaml: Component "a": spec.initTimeout: invalid duration "10": missing unit (use ns, us, ms, s, m or h); using the default 5s',
        'resources/b.yaml: Component "b": spec.initTimeout: invalid duration "10": missing unit (use ns, us, ms, s, m or h); using the default 5s',
    ]


def test_component_without_spec() -> None:
    write("s.yaml", "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: statestore\n")
    assert error() == 'resources/s.yaml: Component "statestore": spec.type: field required'


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ("{}", "Component (document 1): metadata.name: field required"),
        ("{name: a/b}", 'Component (document 1): metadata.name: "a/b" may not contain "/"'),
        ("{name: '..'}", 'Component (document 1): metadata.name: ".." is not a valid name'),
        ("{name: [x]}", "Component (document 1): metadata.name: expected a string, got a list"),
        ("{name: s, namespace: [a]}", 'Component "s": metadata.namespace: expected a string, got a list'),
    ],
)
def test_metadata_errors(metadata: str, message: str) -> None:
    write("s.yaml", f"apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {metadata}\n")
    assert error() == f"resources/s.yaml: {message}"


def test_unsupported_api_version() -> None:
    write("s.yaml", COMPONENT.format(name="s").replace("dapr.io/v1alpha1", "dapr.io/v1"))
    assert (
        error()
        == 'resources/s.yaml: Component "s": apiVersion: "dapr.io/v1" is not supported; use dapr.io/v1alpha1'
    )


def test_ignore_errors_init_timeout_and_secret_store() -> None:
    write(
        "s.yaml",
        """
        apiVersion: dapr.io/v1alpha1
        kind: Component
        metadata:
          name: s
          namespace: default
        spec:
          type: state.redis
          version: v1
          ignoreErrors: true
          initTimeout: 1m30s
          metadata: null
        auth:
          secretstore: vault
        """,
    )
    (comp,) = load().components
    assert (comp.ignore_errors, comp.init_timeout, comp.secret_store, comp.metadata) == (
        True,
        90.0,
        "vault",
        (),
    )


def test_values_are_stringified_like_dapr() -> None:
    write(
        "s.yaml",
        """
        apiVersion: dapr.io/v1alpha1
        kind: Component
        metadata: {name: s}
        spec:
          type: bindings.http
          version: v1
          metadata:
          - {name: int, value: 42}
          - {name: float, value: 1.0}
          - {name: bool, value: yes}
          - {name: map, value: {z: 1, a: [x, 2.5]}}
          - {name: list, value: [1, "<b>"]}
          - {name: empty}
          - {name: null-value, value: null}
          - {name: blank, value: ""}
        """,
    )
    assert load().components[0].plain_metadata() == {
        "int": "42",
        "float": "1",
        "bool": "true",
        "map": '{"a":["x",2.5],"z":1}',
        "list": '[1,"\\u003cb\\u003e"]',
        "empty": "",
        "null-value": "",
        "blank": "",
    }


def test_secret_key_refs() -> None:
    write(
        "s.yaml",
        """
        apiVersion: dapr.io/v1alpha1
        kind: Component
        metadata: {name: s}
        spec:
          type: state.redis
          version: v1
          metadata:
          - name: redisPassword
            secretKeyRef:
              name: redis-secret
              key: password
          - name: token
            secretKeyRef:
              name: token-secret
        auth:
          secretStore: localsecretstore
        """,
    )
    (comp,) = load().components
    assert comp.secret_refs() == [
        ("redisPassword", SecretKeyRef(name="redis-secret", key="password")),
        ("token", SecretKeyRef(name="token-secret", key="token-secret")),
    ]
    assert comp.plain_metadata() == {}
    assert comp.secret_store == "localsecretstore"


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("{name: p, secretKeyRef: s}", 'spec.metadata[0].secretKeyRef: expected a mapping, got string "s"'),
        ("{name: p, secretKeyRef: {name: [s]}}", "spec.metadata[0].secretKeyRef.name: expected a string, got a list"),
        ("{name: p, envRef: {name: HOME}}", "spec.metadata[0].envRef: expected a string, got a mapping"),
        ("{name: p, value: .nan}", "spec.metadata[0].value: unsupported number nan (JSON has no NaN or infinity)"),
        ("{name: p, value: [1, .inf]}", "spec.metadata[0].value: unsupported number inf (JSON has no NaN or infinity)"),
    ],
)  # fmt: skip
def test_metadata_item_errors(item: str, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYDAPR_TEST_UNSET", raising=False)
    write(
        "s.yaml",
        f"apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {{name: s}}\nspec:\n  type: state.redis\n  version: v1\n  metadata:\n  - {item}\n",
    )
    assert error() == f'resources/s.yaml: Component "s": {message}'


def test_env_refs_are_read_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_PASSWORD", "hunter2")
    monkeypatch.delenv("DAPR_ENV_KEYS", raising=False)
    write(
        "s.yaml",
        """
        apiVersion: dapr.io/v1alpha1
        kind: Component
        metadata: {name: s}
        spec:
          type: state.redis
          version: v1
          metadata:
          - name: redisPassword
            envRef: REDIS_PASSWORD
        """,
    )
    assert load().components[0].plain_metadata() == {"redisPassword": "hunter2"}


def _items(*items: str) -> None:
    body = "".join(f"  - {item}\n" for item in items)
    write("s.yaml", f"apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {{name: s}}\nspec:\n  type: state.redis\n  version: v1\n  metadata:\n{body}")  # fmt: skip


def test_env_refs_honour_dapr_env_keys(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SECRET_A", "a")
    monkeypatch.setenv("SECRET_B", "b")
    monkeypatch.setenv("DAPR_ENV_KEYS", "OTHER SECRET_B")
    _items("{name: a, envRef: SECRET_A}", "{name: b, envRef: SECRET_B}")
    assert load().components[0].plain_metadata() == {"a": "", "b": "b"}
    assert caplog.messages == [
        'resources/s.yaml: Component "s": spec.metadata[0].envRef: '
        'environment variable "SECRET_A" is not listed in DAPR_ENV_KEYS; the value is empty'
    ]


def test_env_refs_dapr_refuses_or_cannot_read_give_empty_values(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # daprd starts with an empty value and a warning; so does pydapr.
    monkeypatch.delenv("PYDAPR_TEST_UNSET", raising=False)
    monkeypatch.delenv("DAPR_ENV_KEYS", raising=False)
    _items(
        "{name: a, envRef: PYDAPR_TEST_UNSET}",
        "{name: b, envRef: DAPR_API_TOKEN}",
        "{name: c, envRef: app_api_token}",
    )
    assert load().components[0].plain_metadata() == {"a": "", "b": "", "c": ""}
    assert caplog.messages == [
        'resources/s.yaml: Component "s": spec.metadata[0].envRef: environment variable "PYDAPR_TEST_UNSET" is not set; the value is empty',
        'resources/s.yaml: Component "s": spec.metadata[1].envRef: environment variable "DAPR_API_TOKEN" may not be referenced; the value is empty',
        'resources/s.yaml: Component "s": spec.metadata[2].envRef: environment variable "app_api_token" may not be referenced; the value is empty',
    ]


def test_metadata_precedence_follows_dapr(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PYDAPR_TEST_HOST", "from-env")
    monkeypatch.delenv("DAPR_ENV_KEYS", raising=False)
    _items(
        "{name: value-and-env, value: given, envRef: PYDAPR_TEST_HOST}",
        "{name: env-and-secret, envRef: PYDAPR_TEST_HOST, secretKeyRef: {name: s}}",
        "{name: value-and-secret, value: given, secretKeyRef: {name: s, key: k}}",
        "{name: nameless-secret, value: given, secretKeyRef: {key: k}}",
        "{value: no-name}",
    )
    (comp,) = load().components
    assert comp.plain_metadata() == {
        "value-and-env": "given",
        "env-and-secret": "from-env",
        "nameless-secret": "given",
    }
    assert comp.secret_refs() == [("value-and-secret", SecretKeyRef(name="s", key="k"))]
    assert caplog.messages == [
        'resources/s.yaml: Component "s": spec.metadata[0].envRef: ignored because a value is set',
        'resources/s.yaml: Component "s": spec.metadata[2].value: ignored because secretKeyRef is set',
        'resources/s.yaml: Component "s": spec.metadata[3].secretKeyRef.name: missing; the secretKeyRef is ignored',
        'resources/s.yaml: Component "s": spec.metadata[4].name: missing; the item is ignored',
    ]


# --- other kinds -----------------------------------------------------------------------------


DOCS_RESILIENCY = """
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: myresiliency
scopes:
  - app1
  - app2
spec:
  policies:
    timeouts:
      general: 5s
      important: 60s
      largeResponse: 10s
    retries:
      pubsubRetry:
        policy: constant
        duration: 5s
        maxRetries: 10
      retryForever:
        policy: exponential
        maxInterval: 15s
        maxRetries: -1 # retry indefinitely
      important:
        policy: constant
        duration: 5s
        maxRetries: 30
      someOperation:
        policy: exponential
        maxInterval: 15s
      largeResponse:
        policy: constant
        duration: 5s
        maxRetries: 3
    circuitBreakers:
      simpleCB:
        maxRequests: 1
        timeout: 30s
        trip: consecutiveFailures >= 5
      pubsubCB:
        maxRequests: 1
        interval: 8s
        timeout: 45s
        trip: consecutiveFailures > 8
  targets:
    apps:
      appB:
        timeout: general
        retry: important
        circuitBreaker: simpleCB
    actors:
      myActorType:
        timeout: general
        retry: important
        circuitBreaker: simpleCB
        circuitBreakerScope: both ##
        circuitBreakerCacheSize: 5000
    components:
      statestore1:
        outbound:
          timeout: general
          retry: retryForever
          circuitBreaker: simpleCB
      pubsub1:
        outbound:
          retry: pubsubRetry
          circuitBreaker: pubsubCB
      pubsub2:
        outbound:
          retry: pubsubRetry
          circuitBreaker: pubsubCB
        inbound:
          timeout: general
          retry: important
          circuitBreaker: pubsubCB
"""


def test_docs_resiliency_example_loads() -> None:
    write("resiliency.yaml", DOCS_RESILIENCY)
    assert load().resiliencies == []  # scoped to app1 and app2
    (res,) = load("app1").resiliencies
    assert res.timeouts == {"general": 5.0, "important": 60.0, "largeResponse": 10.0}
    forever = res.retries["retryForever"]
    assert (forever.policy, forever.max_interval, forever.max_retries, forever.duration) == (
        "exponential",
        15.0,
        -1,
        5.0,
    )
    assert res.retries["pubsubRetry"].max_retries == 10
    cb = res.circuit_breakers["pubsubCB"]
    assert (cb.max_requests, cb.interval, cb.timeout, cb.trip) == (1, 8.0, 45.0, "consecutiveFailures > 8")
    app = res.targets.apps["appB"]
    assert (app.timeout, app.retry, app.circuit_breaker, app.circuit_breaker_cache_size) == (
        "general",
        "important",
        "simpleCB",
        100,
    )
    actor = res.targets.actors["myActorType"]
    assert (actor.circuit_breaker_scope, actor.circuit_breaker_cache_size) == ("both", 5000)
    pubsub2 = res.targets.components["pubsub2"]
    assert pubsub2.inbound.timeout == "general"
    assert pubsub2.outbound.retry == "pubsubRetry"
    assert res.targets.components["pubsub1"].inbound.retry is None


def test_docs_resiliency_skeleton_with_empty_sections_loads() -> None:
    write(
        "r.yaml",
        """
        apiVersion: dapr.io/v1alpha1
        kind: Resiliency
        metadata:
          name: myresiliency
        scopes:
          # optionally scope the policy to specific apps
        spec:
          policies:
            timeouts:
            retries:
            circuitBreakers:
          targets:
            apps:
            actors:
            components:
        """,
    )
    (res,) = load().resiliencies
    assert (res.timeouts, res.retries, res.circuit_breakers) == ({}, {}, {})


def test_resiliency_defaults_and_millisecond_durations() -> None:
    write(
        "r.yaml",
        """
        apiVersion: dapr.io/v1alpha1
        kind: Resiliency
        metadata: {name: r}
        spec:
          policies:
            timeouts: {quick: 1500, quoted: "250"}
            retries:
              plain: {}
              matched: {matching: {httpStatusCodes: "429,500-504", gRPCStatusCodes: "1-4,8"}}
            circuitBreakers:
              cb: {}
          targets:
            apps:
              a: {retry: DaprBuiltInServiceRetries}
        """,
    )
    (res,) = load().resiliencies
    assert res.timeouts == {"quick": 1.5, "quoted": 0.25}
    plain = res.retries["plain"]
    assert (plain.policy, plain.duration, plain.max_interval, plain.max_retries) == (
        "constant",
        5.0,
        60.0,
        -1,
    )
    assert res.retries["matched"].matching_http_codes == "429,500-504"
    assert res.retries["matched"].matching_grpc_codes == "1-4,8"
    cb = res.circuit_breakers["cb"]
    assert (cb.max_requests, cb.interval, cb.timeout, cb.trip) == (1, 0.0, 60.0, "consecutiveFailures > 5")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{policies: {timeouts: {t: fast}}}", 'spec.policies.timeouts.t: invalid duration "fast": expected a number and a unit, like 300ms, 5s or 2h45m'),
        ("{policies: {retries: {r: {policy: linear}}}}", 'spec.policies.retries.r.policy: "linear" is not one of constant, exponential'),
        ("{policies: {retries: {r: {maxRetries: '3'}}}}", 'spec.policies.retries.r.maxRetries: expected an integer, got string "3"'),
        ("{policies: {retries: {r: {maxRetries: -2}}}}", "spec.policies.retries.r.maxRetries: must be -1 (retry forever) or more"),
        ("{policies: {retries: {r: {matching: {httpStatusCodes: '600'}}}}}", 'spec.policies.retries.r.matching.httpStatusCodes: "600" is not a code or range of codes between 100 and 599'),
        ("{policies: {retries: {r: {matching: {gRPCStatusCodes: '1-2-3'}}}}}", 'spec.policies.retries.r.matching.gRPCStatusCodes: "1-2-3" is not a code or range of codes between 0 and 16'),
        ("{policies: {circuitBreakers: {c: {timeout: soon}}}}", 'spec.policies.circuitBreakers.c.timeout: invalid duration "soon": expected a number and a unit, like 300ms, 5s or 2h45m'),
        ("{targets: {apps: {a: {retry: importnt}}}}", 'spec.targets.apps.a.retry: no retry policy named "importnt" in spec.policies.retries'),
        ("{targets: {apps: {a: {timeout: general}}}}", 'spec.targets.apps.a.timeout: no timeout named "general" in spec.policies.timeouts'),
        ("{targets: {components: {s: {outbound: {circuitBreaker: cb}}}}}", 'spec.targets.components.s.outbound.circuitBreaker: no circuit breaker named "cb" in spec.policies.circuitBreakers'),
        ("{policies: {circuitBreakers: {cb: {}}}, targets: {actors: {A: {circuitBreaker: cb}}}}", "spec.targets.actors.A.circuitBreakerScope: field required with a circuitBreaker"),
        ("{targets: {actors: {A: {circuitBreakerScope: all}}}}", 'spec.targets.actors.A.circuitBreakerScope: "all" is not one of type, id, both'),
    ],
)  # fmt: skip
def test_resiliency_errors(spec: str, message: str) -> None:
    write("r.yaml", f"apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata: {{name: r}}\nspec: {spec}\n")
    assert error() == f'resources/r.yaml: Resiliency "r": {message}'


def test_docs_subscriptions_load() -> None:
    write(
        "subs.yaml",
        """
        apiVersion: dapr.io/v2alpha1
        kind: Subscription
        metadata:
          name: order-pub-sub
        spec:
          topic: orders
          routes:
            rules:
              - match: event.type == "widget"
                path: /widgets
            default: /orders
          pubsubname: pubsub
          deadLetterTopic: poisonMessages
          metadata:
            rawPayload: true
          bulkSubscribe:
            enabled: true
            maxMessagesCount: 50
        scopes:
        - myapp
        ---
        apiVersion: dapr.io/v1alpha1
        kind: Subscription
        metadata:
          name: checkout
        spec:
          topic: orders
          route: /checkout
          pubsubName: pubsub
        """,
    )
    v2, v1 = load().subscriptions
    assert (v2.pubsub_name, v2.topic, v2.route, v2.default_route, v2.dead_letter_topic) == (
        "pubsub",
        "orders",
        None,
        "/orders",
        "poisonMessages",
    )
    assert [(r.match, r.path) for r in v2.rules] == [('event.type == "widget"', "/widgets")]
    assert v2.metadata == {"rawPayload": "true"}
    assert v2.bulk_subscribe is not None
    assert (v2.bulk_subscribe.enabled, v2.bulk_subscribe.max_messages_count) == (True, 50)
    assert v2.bulk_subscribe.max_await_duration_ms == 1000
    assert (v1.route, v1.rules, v1.pubsub_name, v1.bulk_subscribe, v1.api_version) == (
        "/checkout",
        (),
        "pubsub",
        None,
        "dapr.io/v1alpha1",
    )


@pytest.mark.parametrize(
    ("api", "spec", "message"),
    [
        ("v2alpha1", "{topic: t, routes: {default: /d}}", "spec.pubsubname: field required"),
        ("v2alpha1", "{topic: t, pubsubname: p}", "spec.routes: needs rules or a default route"),
        ("v2alpha1", "{topic: t, pubsubname: p, route: /x}", "spec.routes: field required (spec.route is v1alpha1; use routes.default)"),
        ("v2alpha1", "{topic: t, pubsubname: p, routes: {rules: [{match: x}]}}", "spec.routes.rules[0].path: field required"),
        ("v1alpha1", "{topic: t, pubsubname: p}", "spec.route: field required"),
        ("v1alpha1", "{pubsubname: p, route: /r}", "spec.topic: field required"),
        ("v1alpha1", "{topic: t, pubsubname: p, route: /r, bulkSubscribe: [{enabled: true}]}", "spec.bulkSubscribe: expected a mapping, got a list"),
        ("v1alpha1", "{topic: t, pubsubname: p, route: /r, metadata: {a: [1]}}", "spec.metadata.a: expected a string, got a list"),
    ],
)  # fmt: skip
def test_subscription_errors(api: str, spec: str, message: str) -> None:
    write("s.yaml", f"apiVersion: dapr.io/{api}\nkind: Subscription\nmetadata: {{name: s}}\nspec: {spec}\n")
    assert error() == f'resources/s.yaml: Subscription "s": {message}'


def test_a_later_subscription_with_the_same_name_replaces_the_earlier(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Dapr keeps declarative subscriptions by name across both versions; the last one stays.
    write("a.yaml", "apiVersion: dapr.io/v1alpha1\nkind: Subscription\nmetadata: {name: s}\nspec: {topic: t, pubsubname: p, route: /r}\n")  # fmt: skip
    write("b.yaml", "apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: {name: s}\nspec: {topic: u, pubsubname: p, routes: {default: /r}}\n")  # fmt: skip
    write("c.yaml", "apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: {name: other}\nspec: {topic: v, pubsubname: p, routes: {default: /r}}\n")  # fmt: skip
    assert [(s.name, s.topic) for s in load().subscriptions] == [("s", "u"), ("other", "v")]
    assert caplog.messages == [
        'resources/b.yaml: Subscription "s": metadata.name: same name as the subscription in resources/a.yaml, which it replaces'
    ]


def test_subscriptions_and_resiliencies_need_no_name() -> None:
    write("s.yaml", "apiVersion: dapr.io/v2alpha1\nkind: Subscription\nspec: {topic: t, pubsubname: p, routes: {default: /r}}\n")  # fmt: skip
    write("r.yaml", "kind: Resiliency\nspec: {policies: {timeouts: {fast: 1s}}}\n")
    res = load()
    assert [(s.name, s.topic) for s in res.subscriptions] == [("", "t")]
    assert [(r.name, r.timeouts) for r in res.resiliencies] == [("", {"fast": 1.0})]


def test_http_endpoint_loads() -> None:
    write(
        "ep.yaml",
        """
        apiVersion: dapr.io/v1alpha1
        kind: HTTPEndpoint
        metadata:
          name: github
        spec:
          baseUrl: https://api.github.com
          headers:
          - name: Accept
            value: application/json
          - name: Authorization
            secretKeyRef:
              name: gh-token
              key: token
          clientTLS:
            rootCA:
              secretKeyRef:
                name: ca
                key: ca.crt
            certificate:
              value: "-----BEGIN CERTIFICATE-----"
            renegotiation: OnceAsClient
        scopes:
          - myapp
        auth:
          secretStore: vault
        """,
    )
    (ep,) = load().http_endpoints
    assert (ep.base_url, ep.secret_store, ep.scopes) == ("https://api.github.com", "vault", ("myapp",))
    assert ep.plain_headers() == {"Accept": "application/json"}
    assert ep.secret_refs() == [("Authorization", SecretKeyRef("gh-token", "token"))]
    assert ep.client_tls is not None
    assert ep.client_tls.root_ca is not None
    assert ep.client_tls.root_ca.secret_key_ref == SecretKeyRef("ca", "ca.crt")
    assert ep.client_tls.certificate is not None
    assert ep.client_tls.certificate.value == "-----BEGIN CERTIFICATE-----"
    assert ep.client_tls.private_key is None
    assert ep.client_tls.renegotiation == "OnceAsClient"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{}", "spec.baseUrl: field required"),
        ("{baseUrl: api.github.com}", 'spec.baseUrl: "api.github.com" must start with http:// or https://'),
        ("{baseUrl: 'http://x', clientTLS: {rootCA: {}}}", "spec.clientTLS.rootCA: needs a value or a secretKeyRef"),
        ("{baseUrl: 'http://x', clientTLS: {renegotiation: Always}}", 'spec.clientTLS.renegotiation: "Always" is not one of Never, OnceAsClient, FreelyAsClient'),
    ],
)  # fmt: skip
def test_http_endpoint_errors(spec: str, message: str) -> None:
    write(
        "e.yaml", f"apiVersion: dapr.io/v1alpha1\nkind: HTTPEndpoint\nmetadata: {{name: e}}\nspec: {spec}\n"
    )
    assert error() == f'resources/e.yaml: HTTPEndpoint "e": {message}'


# --- configuration ---------------------------------------------------------------------------


DOCS_CONFIGURATION = """
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: appconfig
  namespace: default
spec:
  api:
    allowed:
      - name: state
        version: v1.0
        protocol: http
    denied:
      - name: secrets
        version: v1
  tracing:
    samplingRate: "1"
    stdout: true
    otel:
      endpointAddress: "localhost:4317"
      isSecure: false
      protocol: grpc
  metric:
    enabled: false
  httpPipeline:
    handlers:
      - name: oauth2
        type: middleware.http.oauth2
  appHttpPipeline:
    handlers:
      - name: uppercase
        type: middleware.http.uppercase
  nameResolution:
    component: "consul"
    version: "v1"
    configuration:
      selfRegister: true
  secrets:
    scopes:
      - storeName: localstore
        defaultAccess: allow
        deniedSecrets: ["redis-password"]
      - storeName: vault
        defaultAccess: Deny
        allowedSecrets: ["b", "a"]
  components:
    deny:
      - bindings.smtp
  features:
    - name: SchedulerReminders
      enabled: true
  logging:
    apiLogging:
      enabled: true
      obfuscateURLs: true
  mtls:
    enabled: true
    workloadCertTTL: "24h"
    allowedClockSkew: "15m"
  accessControl:
    defaultAction: deny
    trustDomain: "public"
    policies:
      - appId: app1
        defaultAction: deny
        trustDomain: 'public'
        namespace: "default"
        operations:
          - name: /op1
            httpVerb: ['POST', 'GET']
            action: deny
          - name: /op2/*
            httpVerb: ["*"]
            action: allow
"""


def test_docs_configuration_loads_from_resources() -> None:
    write("config.yaml", DOCS_CONFIGURATION)
    (conf,) = load().configurations
    assert conf.name == "appconfig"
    assert conf.tracing.sampling_rate == 1.0
    assert (conf.tracing.stdout, conf.tracing.otel_endpoint, conf.tracing.otel_is_secure) == (
        True,
        "localhost:4317",
        False,
    )
    assert conf.tracing.otel_protocol == "grpc"
    assert conf.metrics_enabled is False
    assert [(r.name, r.version, r.protocol) for r in conf.api_allowed] == [("state", "v1.0", "http")]
    assert [(r.name, r.protocol) for r in conf.api_denied] == [("secrets", None)]
    assert conf.http_pipeline == ("oauth2",)
    assert conf.app_http_pipeline == ("uppercase",)
    assert conf.app_http_handlers[0].type == "middleware.http.uppercase"
    assert conf.name_resolution is not None
    assert conf.name_resolution.component == "consul"
    assert conf.name_resolution.configuration == {"selfRegister": True}
    assert conf.secret_scopes["vault"].default_access == "deny"
    assert conf.secret_scopes["vault"].allowed == ("a", "b")
    assert not conf.secret_scopes["localstore"].is_allowed("redis-password")
    assert conf.components_deny == ("bindings.smtp",)
    assert conf.features == {"SchedulerReminders": True}
    assert conf.feature_enabled("SchedulerReminders")
    assert (conf.api_logging.enabled, conf.api_logging.obfuscate_urls) == (True, True)
    assert conf.mtls is not None
    assert (conf.mtls.enabled, conf.mtls.workload_cert_ttl, conf.mtls.allowed_clock_skew) == (
        True,
        86400.0,
        900.0,
    )
    acl = conf.access_control
    assert acl is not None
    assert (acl.default_action, acl.trust_domain) == ("deny", "public")
    (policy,) = acl.policies
    assert (policy.app_id, policy.namespace, policy.trust_domain, policy.default_action) == (
        "app1",
        "default",
        "public",
        "deny",
    )
    assert [(o.name, o.http_verb, o.action) for o in policy.operations] == [
        ("/op1", ("POST", "GET"), "deny"),
        ("/op2/*", ("*",), "allow"),
    ]
    assert conf.spec["tracing"]["samplingRate"] == "1"


def test_load_configuration_defaults(tmp_path: Path) -> None:
    path = write("config.yaml", "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: daprConfig\nspec: {}\n")  # fmt: skip
    conf = load_configuration(path)
    assert (conf.name, conf.source) == ("daprConfig", path)
    assert conf.tracing.sampling_rate == 0.0001
    assert conf.tracing.otel_is_secure is True
    assert conf.metrics_enabled is True
    assert conf.access_control is None
    assert conf.mtls is None
    assert conf.api_logging.enabled is None


def test_access_control_default_action_follows_dapr() -> None:
    path = write(
        "c.yaml",
        """
        apiVersion: dapr.io/v1alpha1
        kind: Configuration
        metadata: {name: c}
        spec:
          accessControl:
            policies:
            - {appId: a, trustDomain: public, namespace: default}
        """,
    )
    # daprd decodes --config onto a default configuration that already says allow.
    acl = load_configuration(path).access_control
    assert acl is not None
    assert acl.default_action == "allow"
    # Read from a resources folder (Kubernetes' way), pkg/acl falls back to deny.
    (conf,) = load().configurations
    assert conf.access_control is not None
    assert conf.access_control.default_action == "deny"


def test_load_configuration_expands_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_HOST", "collector")
    monkeypatch.delenv("PYDAPR_UNSET", raising=False)
    path = write(
        "c.yaml",
        """
        kind: Deployment
        ---
        apiVersion: dapr.io/v1alpha1
        kind: Configuration
        metadata:
          name: tracing${PYDAPR_UNSET}
        spec:
          tracing:
            samplingRate: 0.5
            zipkin:
              endpointAddress: http://$OTEL_HOST:9411/api/v2/spans
        """,
    )
    conf = load_configuration(path)
    assert conf.name == "tracing"
    assert conf.tracing.sampling_rate == 0.5
    assert conf.tracing.zipkin_endpoint == "http://collector:9411/api/v2/spans"


def test_load_configuration_without_api_version_or_name(caplog: pytest.LogCaptureFixture) -> None:
    path = write("config.yaml", "kind: Configuration\nspec:\n  tracing: {samplingRate: '0'}\n")
    conf = load_configuration(path)
    assert (conf.name, conf.tracing.enabled) == ("config", False)
    # daprd reads --config without looking at apiVersion (or kind).
    odd = write("odd.yaml", "apiVersion: dapr.io/v2\nkind: Configuration\nmetadata: {name: c}\nspec: {tracing: {samplingRate: '1'}}\n")  # fmt: skip
    assert load_configuration(odd).tracing.sampling_rate == 1.0
    bare = write("bare.yaml", "spec: {tracing: {samplingRate: '0.5'}}\n")
    assert (load_configuration(bare).name, load_configuration(bare).tracing.sampling_rate) == ("bare", 0.5)
    assert caplog.messages == [
        'resources/odd.yaml: apiVersion "dapr.io/v2" is not dapr.io/v1alpha1; read as a Configuration anyway'
    ]


@pytest.mark.parametrize(
    ("rate", "sampling", "warning"),
    [
        ("lots", 0.0001, '"lots" is not a number from 0 to 1; using the default 0.0001'),
        ("'2'", 1.0, '"2" is not a number from 0 to 1; sampling as 1'),
        ("-1", 0.0, '"-1" is not a number from 0 to 1; sampling as 0'),
    ],
)
def test_sampling_rates_dapr_reads_anyway(
    rate: str, sampling: float, warning: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(
        "c.yaml", f"kind: Configuration\nmetadata: {{name: c}}\nspec: {{tracing: {{samplingRate: {rate}}}}}\n"
    )
    assert load_configuration(path).tracing.sampling_rate == sampling
    assert caplog.messages == [f'resources/c.yaml: Configuration "c": spec.tracing.samplingRate: {warning}']


def test_load_configuration_errors() -> None:
    with pytest.raises(ResourceError) as info:
        load_configuration(Path("missing.yaml"))
    assert str(info.value) == "missing.yaml: file not found"
    path = write("c.yaml", COMPONENT.format(name="x"))
    with pytest.raises(ResourceError) as info:
        load_configuration(path)
    assert str(info.value) == "resources/c.yaml: no Configuration (apiVersion dapr.io/v1alpha1) in the file"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{tracing: {otel: {protocol: udp}}}", 'spec.tracing.otel.protocol: "udp" is not one of grpc, http'),
        ("{accessControl: {defaultAction: maybe}}", 'spec.accessControl.defaultAction: "maybe" is not one of allow, deny'),
        ("{accessControl: {policies: [{appId: a, namespace: default}]}}", "spec.accessControl.policies[0].trustDomain: field required"),
        ("{accessControl: {policies: [{appId: a, trustDomain: public, namespace: d, operations: [{name: /x}]}]}}", "spec.accessControl.policies[0].operations[0].action: field required"),
        ("{secrets: {scopes: [{storeName: s}, {storeName: s}]}}", 'spec.secrets.scopes[1].storeName: "s" is listed twice'),
        ("{secrets: {scopes: [{storeName: s, defaultAccess: none}]}}", 'spec.secrets.scopes[0].defaultAccess: "none" is not one of allow, deny'),
        ("{api: {allowed: [{name: state, version: v1, protocol: ws}]}}", 'spec.api.allowed[0].protocol: "ws" is not one of http, grpc'),
        ("{api: {allowed: [{name: state}]}}", "spec.api.allowed[0].version: field required"),
        ("{features: [{enabled: true}]}", "spec.features[0].name: field required"),
        ("{mtls: {workloadCertTTL: 1 day}}", 'spec.mtls.workloadCertTTL: invalid duration "1 day": unknown unit " day" (use ns, us, ms, s, m or h)'),
        ("{httpPipeline: {handlers: [{name: x}]}}", "spec.httpPipeline.handlers[0].type: field required"),
        ("{nameResolution: {version: v1}}", "spec.nameResolution.component: field required"),
    ],
)  # fmt: skip
def test_configuration_errors(spec: str, message: str) -> None:
    path = write(
        "c.yaml", f"apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {{name: c}}\nspec: {spec}\n"
    )
    with pytest.raises(ResourceError) as info:
        load_configuration(path)
    assert str(info.value) == f'resources/c.yaml: Configuration "c": {message}'
    assert error() == f'resources/c.yaml: Configuration "c": {message}'


def test_error_attributes() -> None:
    write("statestore.yaml", "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: statestore}\nspec: {version: v1}\n")  # fmt: skip
    with pytest.raises(ResourceError) as info:
        load()
    err = info.value
    assert (err.file, err.kind, err.name, err.field, err.problem) == (
        RES / "statestore.yaml",
        "Component",
        "statestore",
        "spec.type",
        "field required",
    )
    assert str(err) == 'resources/statestore.yaml: Component "statestore": spec.type: field required'
