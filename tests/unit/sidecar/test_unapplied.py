"""Every setting pydapr reads but does not apply yet is named in a startup warning."""

from __future__ import annotations

import textwrap
from pathlib import Path

from pydapr.resources import Resources, load_configurations, load_resources
from pydapr.sidecar.options import SidecarOptions
from pydapr.sidecar.unapplied import unapplied_settings

CONFIG = textwrap.dedent(
    """
    apiVersion: dapr.io/v1alpha1
    kind: Configuration
    metadata:
      name: strict
    spec:
      tracing:
        samplingRate: "1"
        zipkin:
          endpointAddress: http://localhost:9411/api/v2/spans
      metric:
        enabled: true
      mtls:
        enabled: true
      accessControl:
        defaultAction: deny
        trustDomain: public
        policies:
          - appId: caller
            trustDomain: public
            namespace: default
            defaultAction: allow
      api:
        allowed:
          - name: state
            version: v1.0
        denied:
          - name: publish
            version: v1.0
      components:
        deny:
          - bindings.localstorage
      httpPipeline:
        handlers:
          - name: upper
            type: middleware.http.uppercase
            selector:
              fields:
                - field: path
                  value: /v1.0/state
      appHttpPipeline:
        handlers:
          - name: upper
            type: middleware.http.uppercase
      features:
        - name: HotReload
          enabled: true
        - name: Off
          enabled: false
      logging:
        apiLogging:
          obfuscateURLs: true
    """
)

RESILIENCY = textwrap.dedent(
    """
    apiVersion: dapr.io/v1alpha1
    kind: Resiliency
    metadata:
      name: myresiliency
    spec:
      policies:
        timeouts:
          fast: 200ms
          DefaultActorTimeoutPolicy: 1s
        retries:
          DefaultComponentRetryPolicy:
            policy: constant
            duration: 1s
      targets:
        apps:
          orders:
            timeout: fast
        components:
          statestore:
            outbound:
              timeout: fast
    """
)


def test_each_unapplied_setting_is_named(tmp_path: Path) -> None:
    config_file = tmp_path / "config.yaml"
    config_file.write_text(CONFIG)
    resources = tmp_path / "resources"
    resources.mkdir()
    (resources / "resiliency.yaml").write_text(RESILIENCY)
    options = SidecarOptions(app_id="a", enable_mtls=False)
    loaded = load_resources([resources], app_id="a", namespace="default")
    where = f'{config_file}: Configuration "strict"'
    assert list(unapplied_settings(options, load_configurations([config_file]), loaded)) == [
        f"{where}: spec.mtls.enabled is the control plane's setting (pydapr: <home>/config.yaml, "
        "`pydapr sentry --config`); this sidecar runs with mTLS off, as --enable-mtls says",
        f"{where}: spec.accessControl.policies need mTLS to know the caller: without --enable-mtls "
        "only defaultAction (deny) applies, as in daprd",
        f'{where}: spec.httpPipeline.handlers[0].selector is not applied (daprd ignores it too); '
        'handler "upper" runs for every request',
        f"{where}: spec.features HotReload: preview features are not applied by pydapr",
    ]


def test_mtls_and_access_control_are_applied_with_mtls_on(tmp_path: Path) -> None:
    config_file = tmp_path / "config.yaml"
    config_file.write_text(CONFIG)
    options = SidecarOptions(app_id="a", enable_mtls=True)
    said = list(unapplied_settings(options, load_configurations([config_file]), Resources()))
    assert not [line for line in said if "spec.mtls" in line or "spec.accessControl" in line]


def test_nothing_to_say_for_what_is_applied(tmp_path: Path) -> None:
    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: plain\nspec:\n"
        "  logging:\n    apiLogging:\n      enabled: true\n      omitHealthChecks: true\n"
        "  secrets:\n    scopes:\n      - storeName: local\n        defaultAccess: deny\n"
    )
    options = SidecarOptions(app_id="a")
    assert list(unapplied_settings(options, load_configurations([config_file]), Resources())) == []
    assert list(unapplied_settings(options, None, Resources())) == []
