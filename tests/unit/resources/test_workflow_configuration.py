"""The Configuration's ``spec.workflow`` as daprd reads it (pkg/config ``WorkflowSpec``): the limits,
the state retention policy, errors that name the file and field, and the startup warning for the
fields daprd's scheduler enforces."""
# ruff: noqa: E501  (the cases read best one per line)

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pydapr.resources import ResourceError, Resources, load_configuration
from pydapr.resources.models import NamedConcurrencyLimit, WorkflowRetentionPolicy, WorkflowSpec
from pydapr.sidecar.options import SidecarOptions
from pydapr.sidecar.unapplied import unapplied_settings


def _config(tmp_path: Path, workflow: str) -> Path:
    path = tmp_path / "config.yaml"
    body = textwrap.indent(textwrap.dedent(workflow).strip("\n"), "    ")
    path.write_text(f"kind: Configuration\nmetadata: {{name: wf}}\nspec:\n  workflow:\n{body}\n")
    return path


def test_no_workflow_section_is_no_limit_and_no_retention(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("kind: Configuration\nmetadata: {name: wf}\nspec: {}\n")
    assert load_configuration(path).workflow == WorkflowSpec()


def test_every_field_is_read(tmp_path: Path) -> None:
    conf = load_configuration(
        _config(
            tmp_path,
            """
            maxConcurrentWorkflowInvocations: 3
            maxConcurrentActivityInvocations: 7
            globalMaxConcurrentWorkflowInvocations: 10
            globalMaxConcurrentActivityInvocations: 20
            workflowConcurrencyLimits: [{name: wf1, maxConcurrent: 2}]
            activityConcurrencyLimits: [{name: act1, maxConcurrent: 4}]
            stateRetentionPolicy: {anyTerminal: 72h, completed: 0s, failed: 1m30s, terminated: 500ms}
            """,
        )
    )
    assert conf.workflow == WorkflowSpec(
        max_concurrent_workflow_invocations=3,
        max_concurrent_activity_invocations=7,
        global_max_concurrent_workflow_invocations=10,
        global_max_concurrent_activity_invocations=20,
        workflow_concurrency_limits=(NamedConcurrencyLimit("wf1", 2),),
        activity_concurrency_limits=(NamedConcurrencyLimit("act1", 4),),
        state_retention=WorkflowRetentionPolicy(
            any_terminal=72 * 3600.0, completed=0.0, failed=90.0, terminated=0.5
        ),
    )


def test_zero_or_negative_limits_are_no_limit_as_daprds_getters(tmp_path: Path) -> None:
    conf = load_configuration(
        _config(
            tmp_path,
            """
            maxConcurrentWorkflowInvocations: 0
            maxConcurrentActivityInvocations: -1
            globalMaxConcurrentWorkflowInvocations: 0
            """,
        )
    )
    assert conf.workflow == WorkflowSpec()


def test_an_empty_retention_policy_purges_nothing(tmp_path: Path) -> None:
    conf = load_configuration(_config(tmp_path, "stateRetentionPolicy: {}"))
    assert conf.workflow.state_retention == WorkflowRetentionPolicy()


def test_named_limits_without_a_name_or_a_positive_limit_are_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    conf = load_configuration(
        _config(
            tmp_path,
            "activityConcurrencyLimits: [{maxConcurrent: 2}, {name: a, maxConcurrent: 0}, {name: b, maxConcurrent: 1}]",
        )
    )
    assert conf.workflow.activity_concurrency_limits == (NamedConcurrencyLimit("b", 1),)
    assert "spec.workflow.activityConcurrencyLimits[0]" in caplog.text
    assert "spec.workflow.activityConcurrencyLimits[1]" in caplog.text


@pytest.mark.parametrize(
    ("workflow", "problem"),
    [
        (
            "maxConcurrentWorkflowInvocations: many",
            "spec.workflow.maxConcurrentWorkflowInvocations: expected an integer, got",
        ),
        (
            "maxConcurrentActivityInvocations: 3000000000",
            "spec.workflow.maxConcurrentActivityInvocations: 3000000000 does not fit in a 32-bit integer",
        ),
        (
            "stateRetentionPolicy: {completed: 5}",
            "spec.workflow.stateRetentionPolicy.completed: expected a duration like 5s or 300ms, got",
        ),
        (
            "stateRetentionPolicy: {failed: 2days}",
            "spec.workflow.stateRetentionPolicy.failed: invalid duration",
        ),
        ("stateRetentionPolicy: [1h]", "spec.workflow.stateRetentionPolicy: expected a mapping"),
        ("workflowConcurrencyLimits: {name: x}", "spec.workflow.workflowConcurrencyLimits: expected a list"),
        (
            "workflowConcurrencyLimits: [{name: x, maxConcurrent: two}]",
            "spec.workflow.workflowConcurrencyLimits[0].maxConcurrent: expected an integer",
        ),
    ],
)
def test_bad_values_name_the_file_and_field(tmp_path: Path, workflow: str, problem: str) -> None:
    with pytest.raises(ResourceError) as info:
        load_configuration(_config(tmp_path, workflow))
    assert str(info.value).startswith(f'{tmp_path / "config.yaml"}: Configuration "wf": {problem}')


def test_the_schedulers_limits_are_named_in_a_startup_warning(tmp_path: Path) -> None:
    options = SidecarOptions(app_id="a")
    empty = Resources([], [], [], [], [])
    conf = load_configuration(
        _config(
            tmp_path,
            """
            maxConcurrentWorkflowInvocations: 3
            globalMaxConcurrentActivityInvocations: 20
            workflowConcurrencyLimits: [{name: wf1, maxConcurrent: 2}]
            stateRetentionPolicy: {anyTerminal: 1h}
            """,
        )
    )
    warnings = [w for w in unapplied_settings(options, conf, empty) if "spec.workflow" in w]
    assert [w.split(": ")[2] for w in warnings] == [
        "spec.workflow.globalMaxConcurrentActivityInvocations is enforced by daprd's scheduler and not by pydapr's",
        "spec.workflow.workflowConcurrencyLimits is enforced by daprd's scheduler and not by pydapr's",
    ]
    applied = load_configuration(_config(tmp_path, "maxConcurrentActivityInvocations: 2"))
    assert not [w for w in unapplied_settings(options, applied, empty) if "spec.workflow" in w]
