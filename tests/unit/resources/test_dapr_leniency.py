"""The rules that make pydapr load what daprd loads: versions, document splitting, string
coercion, placeholders, several --config files; each refusal with its whole message."""
# ruff: noqa: E501  (the cases read best one per line)

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest

from pydapr.resources import (
    ResourceError,
    expand_placeholders,
    load_configuration,
    load_configurations,
    load_resources,
    registry_version,
)
from pydapr.resources._values import go_string
from pydapr.resources._yaml import split_documents
from pydapr.sidecar.components import ComponentStartupError, ComponentStore

RES = Path("resources")


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NAMESPACE", raising=False)
    (tmp_path / RES).mkdir()


def write(name: str, text: str | bytes) -> Path:
    path = RES / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def components(app_id: str = "myapp") -> list[tuple[str, str, str]]:
    return [(c.name, c.type, c.version) for c in load_resources([RES], app_id=app_id).components]


def error() -> str:
    with pytest.raises(ResourceError) as info:
        load_resources([RES], app_id="myapp")
    return str(info.value)


# --- versions and the registry lookup ---------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "known", "looked_up"),
    [
        ("", ["v1"], "v1"),
        ("v0", ["v1"], "v1"),
        ("V1", ["v1"], "v1"),
        ("", ["v1", "v2"], "v1"),  # state.postgresql: Dapr's default is v1
        ("V2", ["v1", "v2"], "v2"),
        ("", ["v2"], "v2"),  # state.yugabytedb: only v2
        ("v1", ["v2"], "v1"),  # and v1 is not it
        ("", [], "v1"),  # an unknown type is reported as .../v1
        ("v3", [], "v3"),
        ("alpha", ["v1"], "alpha"),
    ],
)
def test_registry_version(version: str, known: list[str], looked_up: str) -> None:
    assert registry_version(version, known) == looked_up


def test_missing_empty_v0_and_v1_versions_load() -> None:
    for index, version in enumerate(("", "version: ''", "version: v0", "version: v1", "version: 1")):
        write(
            f"{index}.yaml",
            f"apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {{name: c{index}}}\nspec:\n  type: state.in-memory\n  {version}\n",
        )
    assert components() == [
        ("c0", "state.in-memory", ""),
        ("c1", "state.in-memory", ""),
        ("c2", "state.in-memory", "v0"),
        ("c3", "state.in-memory", "v1"),
        ("c4", "state.in-memory", "1"),
    ]


async def test_versionless_component_starts_and_reports_its_version_as_written() -> None:
    write(
        "s.yaml",
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: s}\nspec: {type: State.In-Memory}\n",
    )
    (spec,) = load_resources([RES], app_id="myapp").components
    store = ComponentStore(app_id="myapp", namespace="default", base_dir=Path.cwd())
    await store.load_all([spec])
    try:
        (loaded,) = store.all()
        # The metadata API shows what the file says, as daprd's does.
        assert (loaded.describe()["type"], loaded.describe()["version"]) == ("State.In-Memory", "")
    finally:
        await store.close_all()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "{type: pubsub.azure.servicebus.topics}",
            'resources/c.yaml: Component "c": unknown component type pubsub.azure.servicebus.topics/v1',
        ),
        (
            "{type: state.nosuch, version: v2}",
            'resources/c.yaml: Component "c": unknown component type state.nosuch/v2',
        ),
        (
            "{type: state.postgresql, version: v9}",
            'resources/c.yaml: Component "c": component type state.postgresql has no version v9 (known: v1, v2)',
        ),
        (
            "{type: state.yugabytedb, version: v1}",
            'resources/c.yaml: Component "c": component type state.yugabytedb has no version v1 (known: v2)',
        ),
        # The type is checked before secrets, so a missing secret store does not hide it.
        (
            "{type: bindings.kafka, metadata: [{name: p, secretKeyRef: {name: s}}]}",
            'resources/c.yaml: Component "c": unknown component type bindings.kafka/v1',
        ),
    ],
)
async def test_startup_error_names_the_missing_type(spec: str, message: str) -> None:
    write("c.yaml", f"apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {{name: c}}\nspec: {spec}\n")
    store = ComponentStore(app_id="myapp", namespace="default", base_dir=Path.cwd())
    with pytest.raises(ComponentStartupError) as info:
        await store.load_all(load_resources([RES], app_id="myapp").components)
    assert str(info.value) == message


async def test_init_failures_still_name_type_and_version() -> None:
    write(
        "c.yaml",
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: c}\nspec:\n  type: state.in-memory\n  metadata:\n  - {name: x, value: '{podName}'}\n",
    )
    store = ComponentStore(app_id="myapp", namespace="default", base_dir=Path.cwd())
    with pytest.raises(ComponentStartupError) as info:
        await store.load_all(load_resources([RES], app_id="myapp").components)
    assert str(info.value) == (
        "resources/c.yaml: Component \"c\" (state.in-memory/v1): metadata 'x' refers to {podName} but POD_NAME is not set"
    )


# --- string fields, scalars and unknown fields ----------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("s", "s"),
        (True, "true"),
        (False, "false"),
        (42, "42"),
        (1.0, "1"),
        (0.1, "0.1"),
        (1.5, "1.5"),
        (3.14159265, "3.1415927"),
        (1e6, "1e+06"),
        (123456.0, "123456"),
        (1e-5, "1e-05"),
        (0.0001, "0.0001"),
        ([1], None),
        ({"a": 1}, None),
    ],
)
def test_go_string_is_sigs_yaml_coercion(value: object, text: str | None) -> None:
    assert go_string(value) == text


def test_string_fields_take_bare_scalars() -> None:
    write(
        "c.yaml",
        """
        apiVersion: dapr.io/v1alpha1
        kind: Component
        metadata: {name: 123}
        spec:
          type: state.in-memory
          version: 2
          metadata:
          - {name: 7, value: x}
        auth: {secretStore: 5}
        scopes: [myapp, 42]
        """,
    )
    (comp,) = load_resources([RES], app_id="42").components
    assert (comp.name, comp.version, comp.plain_metadata(), comp.secret_store, comp.scopes) == (
        "123",
        "2",
        {"7": "x"},
        "5",
        ("myapp", "42"),
    )


def test_unknown_fields_are_ignored_with_a_debug_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="pydapr.resources")
    write(
        "c.yaml",
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: c}\nstatus: {}\nspec: {type: state.in-memory, verison: v1, IgnoreErrors: true}\n",
    )
    (comp,) = load_resources([RES], app_id="myapp").components
    assert (comp.version, comp.ignore_errors) == ("", True)
    assert [r.getMessage() for r in caplog.records if "unknown field" in r.getMessage()] == [
        'resources/c.yaml: Component "c": status: unknown field, ignored',
        'resources/c.yaml: Component "c": spec.verison: unknown field, ignored',
    ]


def test_kind_and_api_version_keys_match_ignoring_case() -> None:
    write(
        "c.yaml",
        "APIVersion: dapr.io/v1alpha1\nKind: Component\nmetadata: {name: c}\nspec: {type: state.in-memory}\n",
    )
    assert components() == [("c", "state.in-memory", "")]


def test_resiliency_is_read_by_kind_alone() -> None:
    # Dapr's resiliency loader never looks at apiVersion.
    write("a.yaml", "kind: Resiliency\nmetadata: {name: a}\n")
    write("b.yaml", "apiVersion: dapr.io/v2\nkind: Resiliency\nmetadata: {name: b}\n")
    assert [r.name for r in load_resources([RES], app_id="myapp").resiliencies] == ["a", "b"]


def test_resources_without_a_usable_name_still_stop() -> None:
    write("c.yaml", "apiVersion: dapr.io/v1alpha1\nkind: HTTPEndpoint\nspec: {baseUrl: 'http://x'}\n")
    assert error() == "resources/c.yaml: HTTPEndpoint (document 1): metadata.name: field required"


# --- files and documents ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "pieces"),
    [
        ("a: 1\n", [(0, "a: 1\n")]),
        ("---\na: 1\n", [(0, "---\na: 1\n")]),
        ("a: 1\n---\nb: 2\n", [(0, "a: 1"), (2, "b: 2\n")]),
        ("a: 1\n--- # second\nb: 2", [(0, "a: 1"), (2, "b: 2")]),
        ("a: 1\n---\n", [(0, "a: 1")]),
        ("a: 1\n---", [(0, "a: 1")]),
        ("a: 1\n---\n---\nb: 2\n", [(0, "a: 1"), (2, "---\nb: 2\n")]),
        ("a: 1\r\n---\r\nb: 2\r\n", [(0, "a: 1\r"), (2, "b: 2\r\n")]),
        ("k: |\n  -----BEGIN-----\n", [(0, "k: |\n  -----BEGIN-----\n")]),
        ("", []),
    ],
)
def test_split_documents_as_dapr(text: str, pieces: list[tuple[int, str]]) -> None:
    assert split_documents(text) == pieces


def test_text_after_a_separator_on_its_line_is_dropped_as_in_dapr() -> None:
    write(
        "c.yaml",
        "kind: Deployment\n--- apiVersion: dapr.io/v1alpha1\napiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: c}\nspec: {type: state.in-memory}\n",
    )
    assert components() == [("c", "state.in-memory", "")]


def test_a_broken_document_does_not_hide_the_others_when_it_is_not_dapr(
    caplog: pytest.LogCaptureFixture,
) -> None:
    write(
        "c.yaml",
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: c}\nspec: {type: state.in-memory}\n---\nname: {{ .Release.Name }}\n",
    )
    assert components() == [("c", "state.in-memory", "")]
    assert caplog.messages == [
        "skipping document 2 of resources/c.yaml: invalid YAML at line 6, column 8: found unhashable key"
    ]


def test_non_utf8_files(caplog: pytest.LogCaptureFixture) -> None:
    write("bin.yaml", b"\xff\xfe\x00garbage")
    assert components() == []
    assert caplog.messages == ["skipping resources/bin.yaml: not UTF-8 text"]
    write(
        "latin.yaml",
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: caf\xe9}\n".encode("latin-1"),
    )
    assert error() == "resources/latin.yaml: not UTF-8 text (invalid continuation byte at byte 65)"


def test_yml_and_uppercase_extensions_are_read() -> None:
    write(
        "a.YML",
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: a}\nspec: {type: state.in-memory}\n",
    )
    write(
        "b.Yaml",
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: b}\nspec: {type: state.in-memory}\n",
    )
    write("c.json", "{}")
    assert [name for name, _, _ in components()] == ["a", "b"]


def test_utf8_bom_is_accepted() -> None:
    write(
        "bom.yaml",
        "\ufeffapiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: b}\nspec: {type: state.in-memory}\n".encode(),
    )
    assert components() == [("b", "state.in-memory", "")]


# --- placeholders -------------------------------------------------------------------------------


def test_expand_placeholders() -> None:
    props = {"a": "{appID}", "b": "{namespace}/x", "c": "{uuid} {uuid}", "d": "{podName}", "e": "{other}"}
    out = expand_placeholders(props, app_id="app", namespace="prod", pod_name="pod-1")
    first, second = out.pop("c").split(" ")
    # Each {uuid} is a fresh UUID; {namespace} is namespace.appID; unknown braces stay.
    assert (len(first), len(second), first != second) == (36, 36, True)
    assert out == {"a": "app", "b": "prod.app/x", "d": "pod-1", "e": "{other}"}
    with pytest.raises(ValueError) as info:
        expand_placeholders({"d": "x-{podName}"}, app_id="a", namespace="n", pod_name="")
    assert str(info.value) == "metadata 'd' refers to {podName} but POD_NAME is not set"


# --- several --config files ---------------------------------------------------------------------


BASE = """
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: base
spec:
  tracing:
    samplingRate: "1"
    zipkin:
      endpointAddress: http://zipkin:9411/api/v2/spans
  features:
  - {name: A, enabled: true}
  - {name: B, enabled: true}
  metric:
    enabled: false
  secrets:
    scopes:
    - {storeName: s, defaultAccess: deny}
"""

OVERLAY = """
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: overlay
spec:
  tracing:
    samplingRate: "0.5"
  features:
  - {name: C, enabled: true}
  secrets: null
"""


def test_several_config_files_combine_as_daprd_decodes_them() -> None:
    base, overlay = write("base.yaml", BASE), write("overlay.yaml", OVERLAY)
    conf = load_configurations([base, overlay])
    # Mappings merge key by key, lists are replaced, null clears a section, the last name wins.
    assert (conf.name, conf.source) == ("overlay", overlay)
    assert (conf.tracing.sampling_rate, conf.tracing.zipkin_endpoint) == (
        0.5,
        "http://zipkin:9411/api/v2/spans",
    )
    assert conf.features == {"C": True}
    assert conf.metrics_enabled is False
    assert conf.secret_scopes == {}
    # The other order: the base's values win.
    other = load_configurations([overlay, base])
    assert (other.name, other.tracing.sampling_rate, other.features) == ("base", 1.0, {"A": True, "B": True})
    assert "s" in other.secret_scopes


def test_no_config_file_is_daprs_default_configuration() -> None:
    conf = load_configurations([])
    assert (
        conf.name,
        conf.source,
        conf.tracing.sampling_rate,
        conf.metrics_enabled,
        conf.access_control,
    ) == (
        "default",
        None,
        0.0001,
        True,
        None,
    )


def test_an_error_in_one_of_several_config_files_names_that_file() -> None:
    good = write("good.yaml", BASE)
    bad = write(
        "bad.yaml", "kind: Configuration\nmetadata: {name: bad}\nspec: {tracing: {otel: {protocol: udp}}}\n"
    )
    with pytest.raises(ResourceError) as info:
        load_configurations([good, bad, Path("never-read.yaml")])
    assert (
        str(info.value)
        == 'resources/bad.yaml: Configuration "bad": spec.tracing.otel.protocol: "udp" is not one of grpc, http'
    )
    with pytest.raises(ResourceError) as info:
        load_configurations([good, Path("missing.yaml")])
    assert str(info.value) == "missing.yaml: file not found"


def test_environment_is_expanded_in_each_config_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYDAPR_TEST_RATE", "0.25")
    one = write(
        "one.yaml",
        "kind: Configuration\nspec: {tracing: {zipkin: {endpointAddress: 'http://$PYDAPR_TEST_HOST:9411'}}}\n",
    )
    two = write("two.yaml", "kind: Configuration\nspec: {tracing: {samplingRate: '${PYDAPR_TEST_RATE}'}}\n")
    monkeypatch.setenv("PYDAPR_TEST_HOST", "zipkin")
    conf = load_configurations([one, two])
    assert (conf.tracing.zipkin_endpoint, conf.tracing.sampling_rate) == ("http://zipkin:9411", 0.25)


def test_config_file_oddities_daprd_accepts(caplog: pytest.LogCaptureFixture) -> None:
    empty = write("empty.yaml", "# nothing here\n")
    conf = load_configuration(empty)
    assert (conf.name, conf.tracing.sampling_rate) == ("empty", 0.0001)
    two = write(
        "two.yaml",
        "kind: Configuration\nmetadata: {name: first}\n---\nkind: Configuration\nmetadata: {name: second}\n",
    )
    assert load_configuration(two).name == "first"
    assert caplog.messages == [
        "resources/empty.yaml: the file is empty; using Dapr's default configuration",
        "resources/two.yaml: only the Configuration (document 1) is read; other documents are ignored",
    ]


def test_a_warning_in_one_of_several_config_files_is_given_once(caplog: pytest.LogCaptureFixture) -> None:
    one = write(
        "one.yaml", "kind: Configuration\nmetadata: {name: one}\nspec: {tracing: {samplingRate: lots}}\n"
    )
    two = write("two.yaml", "kind: Configuration\nmetadata: {name: two}\nspec: {metric: {enabled: false}}\n")
    conf = load_configurations([one, two])
    assert (conf.name, conf.tracing.sampling_rate, conf.metrics_enabled) == ("two", 0.0001, False)
    assert caplog.messages == [
        'resources/one.yaml: Configuration "one": spec.tracing.samplingRate: "lots" is not a number from 0 to 1; using the default 0.0001'
    ]


def test_subscription_metadata_is_a_map_of_strings() -> None:
    write("s.yaml", "apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: {name: s}\nspec: {topic: t, pubsubname: p, routes: {default: /r}, metadata: {rawPayload: true, maxLen: 1e6, 3: x, gone: null}}\n")  # fmt: skip
    (sub,) = load_resources([RES], app_id="myapp").subscriptions
    assert sub.metadata == {"rawPayload": "true", "maxLen": "1e+06", "3": "x"}
    write("s.yaml", "apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: {name: s}\nspec: {topic: t, pubsubname: p, routes: {default: /r}, metadata: {keys: [a]}}\n")  # fmt: skip
    assert error() == 'resources/s.yaml: Subscription "s": spec.metadata.keys: expected a string, got a list'
