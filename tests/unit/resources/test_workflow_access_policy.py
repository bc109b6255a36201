"""WorkflowAccessPolicy documents: what loads, and what daprd's load-time validation refuses (its
pkg/internal/loader/validate/workflowaccesspolicy_test.go cases), skipped with a warning."""
# ruff: noqa: E501  (the error tables read best one case per line)

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest

from pydapr.resources import ResourceError, load_resources
from pydapr.resources.models import WorkflowAccessRule, WorkflowOperationRule

VALID = """
apiVersion: dapr.io/v1alpha1
kind: WorkflowAccessPolicy
metadata:
  name: test-policy
  namespace: default
scopes:
- app-a
spec:
  rules:
  - callers:
    - appID: caller-app
    workflows:
    - name: ProcessOrder
      operations: [schedule]
"""


def write(folder: Path, text: str, name: str = "policy.yaml") -> None:
    (folder / name).write_text(textwrap.dedent(text).lstrip("\n"))


def load(folder: Path, app_id: str = "app-a") -> list:  # type: ignore[type-arg]
    return load_resources([folder], app_id=app_id).workflow_access_policies


def policy_with(rule: str) -> str:
    head = "apiVersion: dapr.io/v1alpha1\nkind: WorkflowAccessPolicy\nmetadata:\n  name: p\nspec:\n  rules:\n"
    return head + textwrap.indent(textwrap.dedent(rule).strip("\n"), "  ") + "\n"


def test_a_valid_policy_loads_with_its_rules(tmp_path: Path) -> None:
    write(tmp_path, VALID)
    (policy,) = load(tmp_path)
    assert policy.name == "test-policy" and policy.scopes == ("app-a",) and policy.namespace == "default"
    assert policy.rules == (
        WorkflowAccessRule(
            callers=("caller-app",), workflows=(WorkflowOperationRule("ProcessOrder", ("schedule",)),)
        ),
    )


def test_scoped_to_another_app_it_is_not_loaded(tmp_path: Path) -> None:
    write(tmp_path, VALID)
    assert load(tmp_path, app_id="app-b") == []


@pytest.mark.parametrize(
    "rule",
    [
        # a glob, an activity rule, every operation, workflows and activities together
        "- callers: [{appID: c}]\n  workflows: [{name: 'Process*', operations: [schedule]}]",
        "- callers: [{appID: c}]\n  activities: [{name: ChargePayment}]",
        "- callers: [{appID: c}]\n  workflows: [{name: w, operations: [schedule, terminate, raise, pause, resume, purge, get, rerun]}]",
        "- callers: [{appID: c}]\n  workflows: [{name: w, operations: [get]}]\n  activities: [{name: a}]",
        # fields the Go type does not have are ignored before validation
        "- callers: [{appID: c}]\n  defaultAction: deny\n  workflows: [{name: w, operations: [get], action: allow}]",
    ],
)
def test_what_daprd_accepts(tmp_path: Path, rule: str) -> None:
    write(tmp_path, policy_with(rule))
    assert len(load(tmp_path)) == 1


def test_an_empty_spec_loads_with_no_rules(tmp_path: Path) -> None:
    write(
        tmp_path, "apiVersion: dapr.io/v1alpha1\nkind: WorkflowAccessPolicy\nmetadata:\n  name: e\nspec: {}\n"
    )
    (policy,) = load(tmp_path)
    assert policy.rules == ()


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        (
            "- callers: [{appID: c}]\n  workflows: [{name: w, operations: [bogus]}]",
            'spec.rules[0].workflows[0].operations[0]: Unsupported value: "bogus": supported values: "schedule", "terminate", "raise", "pause", "resume", "purge", "get", "rerun"',
        ),
        (
            "- callers: [{appID: ''}]\n  workflows: [{name: w, operations: [get]}]",
            'spec.rules[0].callers[0].appID: Invalid value: "": spec.rules[0].callers[0].appID in body should be at least 1 chars long',
        ),
        (
            "- callers: [{appID: c}]\n  workflows: [{name: '', operations: [get]}]",
            'spec.rules[0].workflows[0].name: Invalid value: "": spec.rules[0].workflows[0].name in body should be at least 1 chars long',
        ),
        (
            "- callers: []\n  workflows: [{name: w, operations: [get]}]",
            "spec.rules[0].callers: Invalid value: 0: spec.rules[0].callers in body should have at least 1 items",
        ),
        (
            "- workflows: [{name: w, operations: [get]}]",
            'spec.rules[0].callers: Invalid value: "null": spec.rules[0].callers in body must be of type array: "null"',
        ),
        (
            "- callers: [{appID: c}]\n  workflows: [{name: w, operations: []}]",
            "spec.rules[0].workflows[0].operations: Invalid value: 0: spec.rules[0].workflows[0].operations in body should have at least 1 items",
        ),
        (
            "- callers: [{appID: c}]",
            'spec.rules[0]: Invalid value: "object": at least one of workflows or activities must contain a rule',
        ),
        (
            "- callers: [{appID: c}]\n  activities: [{name: ''}]",
            'spec.rules[0].activities[0].name: Invalid value: "": spec.rules[0].activities[0].name in body should be at least 1 chars long',
        ),
        (
            # one bad rule among good ones refuses the policy
            "- callers: [{appID: c}]\n  workflows: [{name: w, operations: [get]}]\n- callers: [{appID: o}]\n  workflows: [{name: w, operations: [bad]}]",
            'spec.rules[1].workflows[0].operations[0]: Unsupported value: "bad"',
        ),
    ],
)
def test_what_daprd_refuses_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, rule: str, problem: str
) -> None:
    write(tmp_path, policy_with(rule))
    with caplog.at_level(logging.WARNING, logger="pydapr.resources"):
        assert load(tmp_path) == []
    assert 'WorkflowAccessPolicy "p" failed validation, skipping: ' in caplog.text
    assert problem in caplog.text


def test_every_problem_is_listed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write(tmp_path, policy_with("- callers: []\n  workflows: [{name: '', operations: [get]}]"))
    with caplog.at_level(logging.WARNING, logger="pydapr.resources"):
        load(tmp_path)
    assert "failed validation, skipping: [spec.rules[0].workflows[0].name: " in caplog.text
    assert ", spec.rules[0].callers: Invalid value: 0:" in caplog.text


def test_a_field_of_the_wrong_type_skips_the_document_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, policy_with("- callers: someone\n  activities: [{name: a}]") + "---\n" + VALID)
    with caplog.at_level(logging.WARNING, logger="pydapr.resources"):
        loaded = load(tmp_path)
    assert [p.name for p in loaded] == ["test-policy"]
    assert 'spec.rules[0].callers: expected a list, got string "someone"' in caplog.text
    assert "the WorkflowAccessPolicy is skipped" in caplog.text


def test_a_bare_number_is_an_app_id_as_daprd_decodes_it(tmp_path: Path) -> None:
    write(tmp_path, policy_with("- callers: [{appID: 42}]\n  activities: [{name: a}]"))
    (policy,) = load(tmp_path)
    assert policy.rules[0].callers == ("42",)


def test_two_policies_of_one_name_stop_the_sidecar(tmp_path: Path) -> None:
    # daprd: "failed to load workflow access policies: duplicate definition of ..."
    write(tmp_path, VALID)
    write(tmp_path, VALID, "again.yaml")
    with pytest.raises(ResourceError, match="duplicate name"):
        load(tmp_path)


def test_another_namespace_is_skipped_when_the_sidecar_has_one(tmp_path: Path) -> None:
    write(tmp_path, VALID.replace("namespace: default", "namespace: prod"))
    assert load_resources([tmp_path], app_id="app-a", namespace="default", filter_namespace=True) == (
        load_resources([tmp_path], app_id="app-b")
    )
    assert (
        len(load_resources([tmp_path], app_id="app-a", filter_namespace=False).workflow_access_policies) == 1
    )


def test_it_is_no_longer_a_skipped_kind(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write(tmp_path, VALID)
    with caplog.at_level(logging.WARNING, logger="pydapr.resources"):
        load(tmp_path)
    assert "does not support" not in caplog.text
