"""WorkflowAccessPolicy enforcement, as daprd v1.18.3's (pkg/acl/workflow; the workflow and activity
actors' accesspolicy.go; pkg/api/grpc/workflow_acl.go for calls from other sidecars).

A pure allow-list over the policies loaded for this app: no policy, everything is allowed; one or
more (even with no rules), a cross-app call is allowed only when a rule lists the caller's app id
and grants the operation on a name that matches (Go ``path.Match`` globs). Calls of the app to
itself are never checked. Two gates:

- ``admit`` at the door for other sidecars (the internal port): the caller is the app id of its
  verified certificate; without mTLS there is none, and every call to a workflow or activity actor
  is refused, as daprd refuses it; a caller of another namespace is refused; reminders and timers
  of the internal types come only from replicas of this app.
- ``workflow`` / ``activity`` in the actor's turn (engine.py), on the operation the method and its
  payload name and the workflow or activity name, read from the instance's own state.

Denials are ``errors.ACCESS_DENIED`` (PERMISSION_DENIED) with daprd's messages, counted in
``dapr_runtime_workflow_acl_action_{allowed,denied}_total``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydapr.actors.peers import CALLER_APP_ID, CALLER_NAMESPACE
from pydapr.errors import DaprError

from . import errors as E

if TYPE_CHECKING:
    from pydapr.observability.metrics.blocks.workflows import WorkflowMetrics
    from pydapr.resources.models import WorkflowAccessPolicy
    from pydapr.security.spiffe import SpiffeId

log = logging.getLogger("pydapr.workflows.access")

__all__ = ["CALLER_APP_ID", "CALLER_NAMESPACE", "CompiledPolicies", "WorkflowAccess", "denied", "match"]

DENIED = "access denied by workflow access policy"
ERROR_TYPE = "WorkflowAccessPolicyDenied"  # the failed task's errorType, as daprd's
WORKFLOW, ACTIVITY, REMINDER = "workflow", "activity", "reminder"

# pydapr's workflow actor methods and the operation each is (daprd: WaitForRuntimeStatus is ``get``,
# pydapr reads an instance with GetWorkflowMetadata). Run and GetHistory are the sidecar's own.
_METHOD_OPERATIONS = {
    "CreateWorkflowInstance": "schedule",
    "PurgeWorkflowState": "purge",
    "GetWorkflowMetadata": "get",
    "ForkWorkflowHistory": "rerun",
    "RerunWorkflowInstance": "rerun",
}
# AddWorkflowEvent's operation is its event's.
EVENT_OPERATIONS = {
    "executionTerminated": "terminate",
    "eventRaised": "raise",
    "executionSuspended": "pause",
    "executionResumed": "resume",
}


def method_operation(method: str) -> str:
    """The operation a workflow actor method is; "" for the sidecar's own methods."""
    return _METHOD_OPERATIONS.get(method, "")


# --- Go's path.Match ----------------------------------------------------------------------------


class BadPattern(ValueError):
    """Go's path.ErrBadPattern: the pattern is malformed."""


def match(pattern: str, name: str) -> bool:
    """Go's ``path.Match``: ``*`` any run of characters but ``/``, ``?`` one character but ``/``,
    ``[...]`` a class (``^`` negates, ``a-z`` ranges), ``\\`` escapes. Raises BadPattern for a
    malformed pattern, also when the name does not match (Go checks the rest of the pattern)."""
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and not chunk:
            return "/" not in name  # a trailing * matches the rest, unless it has a /
        rest, ok = _match_chunk(chunk, name)
        if ok and (not rest or pattern):
            name = rest
            continue
        if star:
            matched = False
            i = 0
            while i < len(name) and name[i] != "/":
                rest, ok = _match_chunk(chunk, name[i + 1 :])
                i += 1
                if ok:
                    if not pattern and rest:
                        continue  # the last chunk must use up the name
                    name, matched = rest, True
                    break
            if matched:
                continue
        while pattern:  # no match: the rest of the pattern must still be well formed
            _, chunk, pattern = _scan_chunk(pattern)
            _match_chunk(chunk, "")
        return False
    return not name


def _scan_chunk(pattern: str) -> tuple[bool, str, str]:
    star = False
    while pattern.startswith("*"):
        pattern, star = pattern[1:], True
    in_range = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 < len(pattern):
                i += 1
        elif c == "[":
            in_range = True
        elif c == "]":
            in_range = False
        elif c == "*" and not in_range:
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _match_chunk(chunk: str, s: str) -> tuple[str, bool]:
    """``(rest of s, matched)``; goes on reading the chunk after a mismatch, to find a bad one."""
    failed = False
    while chunk:
        if not failed and not s:
            failed = True
        c = chunk[0]
        if c == "[":
            r = ""
            if not failed:
                r, s = s[0], s[1:]
            chunk = chunk[1:]
            negated = chunk.startswith("^")
            if negated:
                chunk = chunk[1:]
            matched, ranges = False, 0
            while True:
                if chunk.startswith("]") and ranges > 0:
                    chunk = chunk[1:]
                    break
                lo, chunk = _escaped(chunk)
                hi = lo
                if chunk[0] == "-":
                    hi, chunk = _escaped(chunk[1:])
                if not failed and lo <= r <= hi:
                    matched = True
                ranges += 1
            if matched == negated:
                failed = True
        elif c == "?":
            if not failed:
                if s[0] == "/":
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
        else:
            if c == "\\":
                chunk = chunk[1:]
                if not chunk:
                    raise BadPattern("trailing backslash")
            if not failed:
                if chunk[0] != s[0]:
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
    return ("", False) if failed else (s, True)


def _escaped(chunk: str) -> tuple[str, str]:
    if not chunk or chunk[0] in "-]":
        raise BadPattern("bad character class")
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if not chunk:
            raise BadPattern("trailing backslash")
    r, rest = chunk[0], chunk[1:]
    if not rest:
        raise BadPattern("unterminated character class")
    return r, rest


# --- compiled policies ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Grant:
    kind: str  # WORKFLOW or ACTIVITY
    operation: str
    pattern: str


@dataclass(frozen=True, slots=True)
class _Rule:
    callers: frozenset[str]
    grants: tuple[_Grant, ...]


class CompiledPolicies:
    """The rules of every policy loaded for this app, as daprd's Compile builds them."""

    def __init__(self, rules: Sequence[_Rule]) -> None:
        self.rules = tuple(rules)

    @classmethod
    def compile(cls, policies: Sequence[WorkflowAccessPolicy]) -> CompiledPolicies | None:
        """None when there is no policy (everything allowed). A glob that is no valid pattern drops
        its rule entry, with a warning, as daprd's."""
        if not policies:
            return None
        rules = []
        for policy in policies:
            for rule in policy.rules:
                if not rule.callers:
                    continue  # refused at load; daprd skips it again here
                grants = []
                for wf in rule.workflows:
                    if _bad_pattern(wf.name, policy.name, "workflow"):
                        continue
                    grants += [_Grant(WORKFLOW, op, wf.name) for op in wf.operations]
                for name in rule.activities:
                    if not _bad_pattern(name, policy.name, "activity"):
                        grants.append(_Grant(ACTIVITY, "schedule", name))
                if grants:
                    rules.append(_Rule(frozenset(rule.callers), tuple(grants)))
        return cls(rules)

    def allows(self, caller: str, kind: str, operation: str, name: str) -> bool:
        for rule in self.rules:
            if caller not in rule.callers:
                continue
            for grant in rule.grants:
                if grant.kind == kind and grant.operation == operation and _matches(grant.pattern, name):
                    return True
        return False


def _bad_pattern(pattern: str, policy: str, what: str) -> bool:
    try:
        match(pattern, "")
    except BadPattern:
        log.warning(
            "Invalid glob pattern '%s' in WorkflowAccessPolicy '%s', skipping %s rule", pattern, policy, what
        )
        return True
    return False


def _matches(pattern: str, name: str) -> bool:
    try:
        return match(pattern, name)
    except BadPattern:
        return False


# --- the decisions -----------------------------------------------------------------------------------


class WorkflowAccess:
    """This app's policies and where they are applied (the module docstring)."""

    def __init__(
        self,
        policies: CompiledPolicies | None,
        *,
        app_id: str,
        namespace: str,
        metrics: WorkflowMetrics | None = None,
    ) -> None:
        self.policies = policies
        self.app_id = app_id
        self.namespace = namespace
        self.metrics = metrics

    @property
    def enabled(self) -> bool:
        return self.policies is not None

    def _record(self, caller: str, kind: str, operation: str, allowed: bool) -> None:
        if self.metrics is not None:
            self.metrics.access(caller, kind, operation, allowed)

    def admit(self, op: str, caller: SpiffeId | None) -> DaprError | None:
        """A call from another sidecar to an internal actor (``op``: invoke, reminder, timer,
        timer-delete), before it reaches the actor; ``caller`` is its verified certificate's id."""
        if self.policies is None:
            return None
        if caller is None:
            return E.ACCESS_DENIED(DENIED)  # no mTLS: no identity to decide on
        if caller.namespace != self.namespace:
            log.warning(
                "Workflow access policy denied cross-namespace call (caller namespace '%s' != target "
                "namespace '%s')",
                caller.namespace,
                self.namespace,
            )
            return E.ACCESS_DENIED(DENIED)
        if op != "invoke":
            # The internal types' reminders and timers are set by their own app's sidecars only.
            allowed = caller.app_id == self.app_id
            self._record(caller.app_id, REMINDER, "invoke", allowed)
            if not allowed:
                log.warning(
                    "Workflow access policy denied cross-app reminder invocation from app '%s'", caller.app_id
                )
                return E.ACCESS_DENIED(DENIED)
        return None

    async def workflow(
        self,
        instance_id: str,
        method: str,
        caller: str,
        operation: Callable[[], str],
        name: Callable[[], Awaitable[str]],
    ) -> DaprError | None:
        """A call to the workflow actor of ``instance_id``; ``operation()`` is the operation
        (raises ValueError for a payload that names none), ``name()`` the workflow's name."""
        if self.policies is None or caller == self.app_id:
            return None
        try:
            op = operation()
        except ValueError as exc:
            log.warning(
                "Workflow actor '%s': workflow access policy denied call '%s': could not derive operation "
                "from request: %s",
                instance_id,
                method,
                exc,
            )
            self._record(caller, WORKFLOW, method, False)
            return E.ACCESS_DENIED(f"{DENIED}: malformed request for method '{method}'")
        if not op:
            log.warning(
                "Workflow actor '%s': workflow access policy denied cross-app call to non-subject method "
                "'%s' from app '%s'",
                instance_id,
                method,
                caller,
            )
            self._record(caller, WORKFLOW, method, False)
            return E.ACCESS_DENIED(f"{DENIED}: app '{caller}' cannot invoke method '{method}'")
        if not caller:
            self._record("", WORKFLOW, op, False)
            return E.ACCESS_DENIED(f"{DENIED}: caller identity missing on workflow '{op}' operation")
        workflow_name = await name()
        if not self.policies.allows(caller, WORKFLOW, op, workflow_name):
            log.warning(
                "Workflow actor '%s': workflow access policy denied app '%s' operation '%s' on '%s'",
                instance_id,
                caller,
                op,
                workflow_name,
            )
            self._record(caller, WORKFLOW, op, False)
            return E.ACCESS_DENIED(
                f"{DENIED}: app '{caller}' operation '{op}' on workflow '{workflow_name}' "
                f"(instance '{instance_id}')"
            )
        self._record(caller, WORKFLOW, op, True)
        return None

    def activity(self, actor_id: str, method: str, caller: str, name: Callable[[], str]) -> DaprError | None:
        """A call to an activity actor; ``name()`` is the activity's name (raises ValueError for a
        payload that names none)."""
        if self.policies is None or caller == self.app_id:
            return None
        if method != "Execute":
            log.warning(
                "Activity actor '%s': workflow access policy denied cross-app call to non-Execute method "
                "'%s' from app '%s'",
                actor_id,
                method,
                caller,
            )
            self._record(caller, ACTIVITY, method, False)
            return E.ACCESS_DENIED(f"{DENIED}: app '{caller}' cannot invoke method '{method}'")
        try:
            activity = name()
        except ValueError as exc:
            log.warning(
                "Activity actor '%s': workflow access policy denied call '%s': could not extract name from "
                "request: %s",
                actor_id,
                method,
                exc,
            )
            self._record(caller, ACTIVITY, method, False)
            return E.ACCESS_DENIED(f"{DENIED}: malformed request for method '{method}'")
        if not caller:
            self._record("", ACTIVITY, "schedule", False)
            return E.ACCESS_DENIED(f"{DENIED}: caller identity missing on activity '{activity}' schedule")
        if not self.policies.allows(caller, ACTIVITY, "schedule", activity):
            log.warning(
                "Activity actor '%s': workflow access policy denied app '%s' on activity '%s'",
                actor_id,
                caller,
                activity,
            )
            self._record(caller, ACTIVITY, "schedule", False)
            return E.ACCESS_DENIED(f"{DENIED}: app '{caller}' schedule on activity '{activity}'")
        self._record(caller, ACTIVITY, "schedule", True)
        return None


def denied(err: DaprError) -> bool:
    """The call was refused by a WorkflowAccessPolicy of the app it went to (daprd's
    IsPermissionDenied on the caller's side: the task fails instead of being retried)."""
    return err.code == E.ACCESS_DENIED.code
