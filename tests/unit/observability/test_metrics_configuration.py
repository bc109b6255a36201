"""spec.metric (and Dapr's older spec.metrics) read with daprd's defaults; bad values are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from pydapr.resources import ResourceError, Resources, load_configurations
from pydapr.resources.models import MetricSpec
from pydapr.sidecar.options import SidecarOptions
from pydapr.sidecar.unapplied import unapplied_settings


def _config(tmp_path: Path, spec: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "config.yaml"
    path.write_text(f"apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: c\nspec:\n{spec}")
    return load_configurations([path])


def test_defaults_are_daprs(tmp_path: Path) -> None:
    assert _config(tmp_path, "  tracing: {}\n").metric == MetricSpec()


def test_every_field_is_read(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        """  metric:
    enabled: true
    latencyDistributionBuckets: [50, 10, 10, 100]
    http:
      increasedCardinality: true
      excludeVerbs: true
      pathMatching: ["/orders/{id}"]
    rules:
      - name: dapr_http_server_request_count
        labels:
          - name: method
            regex:
              "READ": "GET|HEAD"
""",
    )
    metric = config.metric
    assert metric.latency_buckets == (10, 50, 100)
    assert metric.increased_cardinality and metric.exclude_verbs
    assert metric.path_matching == ("/orders/{id}",)
    assert metric.rules[0].name == "dapr_http_server_request_count"
    assert metric.rules[0].labels == (("method", (("READ", "GET|HEAD"),)),)


def test_the_older_spelling_turns_metrics_off(tmp_path: Path) -> None:
    config = _config(tmp_path, "  metrics:\n    enabled: false\n")
    assert not config.metric.enabled
    assert not config.metrics_enabled


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("  metric:\n    latencyDistributionBuckets: [1, fast]\n", "latencyDistributionBuckets"),
        (
            "  metric:\n    rules:\n      - name: x\n        labels:\n          - name: y\n"
            "            regex: {a: '('}\n",
            "not a valid regex",
        ),
        ("  metric:\n    http:\n      increasedCardinality: maybe\n", "increasedCardinality"),
    ],
)
def test_bad_values_are_one_clear_error(tmp_path: Path, spec: str, problem: str) -> None:
    with pytest.raises(ResourceError, match=problem):
        _config(tmp_path, spec)


def test_applied_fields_warn_no_more(tmp_path: Path) -> None:
    options = SidecarOptions(app_id="a")
    empty = Resources([], [], [], [], [])
    quiet = _config(tmp_path, "  metric:\n    enabled: true\n    http: {increasedCardinality: false}\n")
    assert not [w for w in unapplied_settings(options, quiet, empty) if "metric" in w]
    codes = _config(tmp_path, "  metric:\n    recordErrorCodes: true\n")
    assert not [w for w in unapplied_settings(options, codes, empty) if "recordErrorCodes" in w]
