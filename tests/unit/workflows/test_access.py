"""The WorkflowAccessPolicy decisions (pydapr.workflows.access): Go's path.Match, daprd's Compile and
Evaluate (pkg/acl/workflow/policy_test.go), the peer gate and the in-actor checks with their
messages and metrics."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pydapr.observability.metrics.blocks.workflows import ACL_ALLOWED, ACL_DENIED, WorkflowMetrics
from pydapr.resources.models import WorkflowAccessPolicy, WorkflowAccessRule, WorkflowOperationRule
from pydapr.security.spiffe import SpiffeId
from pydapr.workflows import errors as E
from pydapr.workflows.access import BadPattern, CompiledPolicies, WorkflowAccess, denied, match


@pytest.mark.parametrize(
    ("pattern", "name", "matched"),
    [
        ("*", "anything", True),
        ("*", "", True),
        ("*", "a/b", False),  # * stops at /
        ("Process*", "ProcessOrder", True),
        ("Process*", "Process", True),
        ("Process*", "processOrder", False),  # case matters
        ("*Order", "ProcessOrder", True),
        ("a*c", "abbbc", True),
        ("a*c", "abbbd", False),
        ("a*b*c", "axxbyyc", True),
        ("a?c", "abc", True),
        ("a?c", "a/c", False),
        ("[a-c]x", "bx", True),
        ("[^a-c]x", "bx", False),
        ("[^a-c]x", "dx", True),
        ("[!a]", "!", True),  # Go negates with ^ only
        ("a\\*", "a*", True),
        ("a\\*", "ab", False),
        ("exact", "exact", True),
        ("exact", "exactly", False),
        ("", "", True),
        ("", "x", False),
    ],
)
def test_go_path_match(pattern: str, name: str, matched: bool) -> None:
    assert match(pattern, name) is matched


@pytest.mark.parametrize("pattern", ["[", "a[", "[a-", "[]", "a\\", "x[b", "*[", "[a-]"])
def test_a_malformed_pattern_is_bad_even_when_nothing_matches(pattern: str) -> None:
    with pytest.raises(BadPattern):
        match(pattern, "")


def _policy(*rules: WorkflowAccessRule, name: str = "p") -> WorkflowAccessPolicy:
    return WorkflowAccessPolicy(name=name, source=Path("p.yaml"), rules=rules)


def _rule(
    callers: tuple[str, ...], workflows: dict[str, tuple[str, ...]], activities: tuple[str, ...] = ()
) -> WorkflowAccessRule:
    return WorkflowAccessRule(
        callers=callers,
        workflows=tuple(WorkflowOperationRule(n, ops) for n, ops in workflows.items()),
        activities=activities,
    )


def test_no_policy_compiles_to_none_and_one_without_rules_denies_everything() -> None:
    assert CompiledPolicies.compile([]) is None
    empty = CompiledPolicies.compile([_policy()])
    assert empty is not None and not empty.allows("a", "workflow", "schedule", "w")


def test_allows_by_caller_kind_operation_and_name() -> None:
    compiled = CompiledPolicies.compile(
        [
            _policy(_rule(("caller",), {"Process*": ("schedule", "get")}, ("Charge*",))),
            _policy(_rule(("other",), {"*": ("purge",)}), name="q"),
        ]
    )
    assert compiled is not None
    assert compiled.allows("caller", "workflow", "schedule", "ProcessOrder")
    assert compiled.allows("caller", "workflow", "get", "ProcessOrder")
    assert not compiled.allows("caller", "workflow", "terminate", "ProcessOrder")
    assert not compiled.allows("caller", "workflow", "schedule", "Other")
    assert compiled.allows("caller", "activity", "schedule", "ChargeCard")
    assert not compiled.allows("caller", "activity", "schedule", "Refund")
    assert not compiled.allows("caller", "workflow", "schedule", "ChargeCard")  # an activity grant
    assert compiled.allows("other", "workflow", "purge", "")  # "*" matches a nameless instance
    assert not compiled.allows("stranger", "workflow", "purge", "x")


def test_a_bad_glob_drops_only_its_entry(caplog: pytest.LogCaptureFixture) -> None:
    compiled = CompiledPolicies.compile([_policy(_rule(("c",), {"[": ("get",), "ok": ("get",)}, ("a[",)))])
    assert compiled is not None
    assert compiled.allows("c", "workflow", "get", "ok")
    assert not compiled.allows("c", "workflow", "get", "[")
    assert "Invalid glob pattern '[' in WorkflowAccessPolicy 'p', skipping workflow rule" in caplog.text
    assert "Invalid glob pattern 'a[' in WorkflowAccessPolicy 'p', skipping activity rule" in caplog.text


def _access(*rules: WorkflowAccessRule, metrics: WorkflowMetrics | None = None) -> WorkflowAccess:
    return WorkflowAccess(
        CompiledPolicies.compile([_policy(*rules)]), app_id="target", namespace="default", metrics=metrics
    )


def _spiffe(app: str, namespace: str = "default") -> SpiffeId:
    return SpiffeId("public", namespace, app)


def test_the_gate_without_policies_lets_everything_through() -> None:
    access = WorkflowAccess(None, app_id="target", namespace="default")
    assert not access.enabled
    assert access.admit("invoke", None) is None
    assert access.admit("reminder", _spiffe("x")) is None


def test_the_gate_with_policies_needs_a_verified_caller_of_this_namespace() -> None:
    access = _access()
    for err in (access.admit("invoke", None), access.admit("invoke", _spiffe("caller", "prod"))):
        assert err is not None and err.message == "access denied by workflow access policy"
        assert err.grpc_status.name == "PERMISSION_DENIED" and denied(err)
    assert access.admit("invoke", _spiffe("caller")) is None  # the actor decides on the operation


def test_reminders_and_timers_of_the_internal_types_come_only_from_this_app() -> None:
    metrics = WorkflowMetrics("target", "default")
    access = _access(metrics=metrics)
    before_denied = ACL_DENIED.values.get(("target", "intruder", "invoke", "reminder"), 0.0)
    before_allowed = ACL_ALLOWED.values.get(("target", "target", "invoke", "reminder"), 0.0)
    for op in ("reminder", "timer", "timer-delete"):
        err = access.admit(op, _spiffe("intruder"))
        assert err is not None and denied(err)
        assert access.admit(op, _spiffe("target")) is None
    assert ACL_DENIED.values[("target", "intruder", "invoke", "reminder")] == before_denied + 3
    assert ACL_ALLOWED.values[("target", "target", "invoke", "reminder")] == before_allowed + 3


def _workflow(
    access: WorkflowAccess, method: str, caller: str, operation: str | Exception, name: str = "Order"
) -> str | None:
    def op() -> str:
        if isinstance(operation, Exception):
            raise operation
        return operation

    async def wf_name() -> str:
        return name

    err = asyncio.run(access.workflow("inst-1", method, caller, op, wf_name))
    return None if err is None else err.message


def test_the_workflow_actor_check_and_daprd_s_messages() -> None:
    access = _access(_rule(("caller",), {"Ord*": ("schedule",)}))
    assert _workflow(access, "CreateWorkflowInstance", "caller", "schedule") is None
    assert _workflow(access, "CreateWorkflowInstance", "target", "", "x") is None  # the app itself
    assert _workflow(access, "AddWorkflowEvent", "caller", "terminate") == (
        "access denied by workflow access policy: app 'caller' operation 'terminate' on workflow 'Order' "
        "(instance 'inst-1')"
    )
    assert _workflow(access, "Run", "caller", "") == (
        "access denied by workflow access policy: app 'caller' cannot invoke method 'Run'"
    )
    assert _workflow(access, "AddWorkflowEvent", "caller", ValueError("unsupported")) == (
        "access denied by workflow access policy: malformed request for method 'AddWorkflowEvent'"
    )
    assert _workflow(access, "PurgeWorkflowState", "", "purge") == (
        "access denied by workflow access policy: caller identity missing on workflow 'purge' operation"
    )
    assert _workflow(access, "CreateWorkflowInstance", "caller", "schedule", "Refund") is not None


def test_the_workflow_check_reads_the_name_only_when_it_decides_on_it() -> None:
    access = _access(_rule(("caller",), {"*": ("get",)}))
    asked: list[str] = []

    async def name() -> str:
        asked.append("x")
        return "x"

    assert asyncio.run(access.workflow("i", "Run", "caller", lambda: "", name)) is not None
    assert asyncio.run(access.workflow("i", "GetWorkflowMetadata", "caller", lambda: "get", name)) is None
    assert asked == ["x"]


def test_the_activity_actor_check_and_its_metrics() -> None:
    metrics = WorkflowMetrics("target", "default")
    access = _access(_rule(("caller",), {}, ("Charge",)), metrics=metrics)
    key = ("target", "caller", "schedule", "activity")
    allowed, refused = ACL_ALLOWED.values.get(key, 0.0), ACL_DENIED.values.get(key, 0.0)
    assert access.activity("a::1::0", "Execute", "caller", lambda: "Charge") is None
    err = access.activity("a::1::0", "Execute", "caller", lambda: "Refund")
    assert err is not None
    assert (
        err.message == "access denied by workflow access policy: app 'caller' schedule on activity 'Refund'"
    )
    assert ACL_ALLOWED.values[key] == allowed + 1 and ACL_DENIED.values[key] == refused + 1
    other = access.activity("a::1::0", "Abandon", "caller", lambda: "Charge")
    assert other is not None and "cannot invoke method 'Abandon'" in other.message

    def broken() -> str:
        raise ValueError("cannot decode")

    bad = access.activity("a::1::0", "Execute", "caller", broken)
    assert bad is not None and bad.message.endswith("malformed request for method 'Execute'")
    missing = access.activity("a::1::0", "Execute", "", lambda: "Charge")
    assert missing is not None and "caller identity missing on activity 'Charge' schedule" in missing.message
    assert access.activity("a::1::0", "Execute", "target", lambda: "Refund") is None  # the app itself


def test_a_denial_is_recognised_on_the_caller_s_side() -> None:
    assert denied(E.ACCESS_DENIED("x"))
    assert not denied(E.NO_SUCH_INSTANCE())


def test_the_caller_identity_is_only_ever_the_sidecar_s() -> None:
    from pydapr.actors.peers import verified_identity, without_identity

    claimed = {"dapr-caller-app-id": "target", "Dapr-Caller-Namespace": "default", "traceparent": "t"}
    # At the internal port: whatever the peer claims goes; its certificate's identity is set.
    assert verified_identity(claimed, _spiffe("stranger", "prod")) == {
        "traceparent": "t",
        "dapr-caller-app-id": "stranger",
        "dapr-caller-namespace": "prod",
    }
    assert verified_identity(claimed, None) == {"traceparent": "t"}  # no mTLS: no identity at all
    # On the user-facing actor API: a client's claim is dropped, anything else kept as it is.
    assert without_identity({"dapr-caller-app-id": "target", "x": "1"}) == {"x": "1"}
    plain = {"x": "1"}
    assert without_identity(plain) is plain
