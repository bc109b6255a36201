"""Build WorkflowAccessPolicy values (dapr.io/v1alpha1), checked as daprd checks them at load.

daprd (pkg/internal/loader/validate) decodes the document into its Go type, marshals that to JSON
and validates the JSON against the CRD's OpenAPI schema and its CEL rule. So a missing list is
``null`` (a type error), an empty one fails ``minItems``, a missing string is ``""`` and fails
``minLength``, and fields the type does not have are gone before validation (ignored).

Two ways a document is refused, each skipped with a warning by the loader (the sidecar still
starts, as daprd's): a field of the wrong type (``ResourceError``: Go's decoder fails), or
``WorkflowAccessPolicyInvalid``: the schema or the CEL rule refuses it, its message listing every
problem in the Kubernetes field-error form daprd logs.
"""

from __future__ import annotations

from typing import Any

from ._fields import Doc, join
from .models import WORKFLOW_OPERATIONS, WorkflowAccessPolicy, WorkflowAccessRule, WorkflowOperationRule

__all__ = ["WorkflowAccessPolicyInvalid", "parse_workflow_access_policy"]

_SUPPORTED = ", ".join(f'"{op}"' for op in WORKFLOW_OPERATIONS)


class WorkflowAccessPolicyInvalid(Exception):
    """The policy fails the CRD's validation; ``str()`` is daprd's aggregate of field errors."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]")
        self.problems = problems


def parse_workflow_access_policy(
    doc: Doc, obj: dict[str, Any], namespace: str | None
) -> WorkflowAccessPolicy:
    """Raises ResourceError when a field cannot be decoded, WorkflowAccessPolicyInvalid when the
    decoded policy fails validation."""
    spec = doc.mapping(obj, "spec", "")
    problems: list[str] = []
    rules = tuple(_rule(doc, rule, where, problems) for where, rule in doc.items(spec, "rules", "spec"))
    policy = WorkflowAccessPolicy(
        name=doc.name or "",
        source=doc.file,
        namespace=namespace,
        scopes=doc.strings(obj, "scopes", ""),
        rules=rules,
    )
    if problems:
        raise WorkflowAccessPolicyInvalid(problems)
    return policy


def _rule(doc: Doc, rule: dict[str, Any], where: str, problems: list[str]) -> WorkflowAccessRule:
    callers_where = join(where, "callers")
    callers = _required_list(doc, rule, "callers", where, problems)
    caller_ids = tuple(_min_one(doc, caller, "appID", at, problems) for at, caller in callers or ())
    workflows = tuple(_workflow(doc, wf, at, problems) for at, wf in doc.items(rule, "workflows", where))
    activities = tuple(
        _min_one(doc, activity, "name", at, problems) for at, activity in doc.items(rule, "activities", where)
    )
    if callers is not None and not callers:
        problems.append(_min_items(callers_where))
    if not workflows and not activities:
        problems.append(
            f'{where}: Invalid value: "object": at least one of workflows or activities must contain a rule'
        )
    return WorkflowAccessRule(callers=caller_ids, workflows=workflows, activities=activities)


def _workflow(doc: Doc, wf: dict[str, Any], where: str, problems: list[str]) -> WorkflowOperationRule:
    name = _min_one(doc, wf, "name", where, problems)
    ops_where = join(where, "operations")
    value = doc.get(wf, "operations")
    operations = doc.strings(wf, "operations", where)
    if value is None:
        problems.append(_null_list(ops_where))
    elif not operations:
        problems.append(_min_items(ops_where))
    for i, op in enumerate(operations):
        if op not in WORKFLOW_OPERATIONS:
            problems.append(
                f'{join(ops_where, i)}: Unsupported value: "{op}": supported values: {_SUPPORTED}'
            )
    return WorkflowOperationRule(name=name, operations=operations)


def _required_list(
    doc: Doc, obj: dict[str, Any], key: str, where: str, problems: list[str]
) -> list[tuple[str, dict[str, Any]]] | None:
    """A list of mappings the Go type does not omit when empty: absent is ``null``, a type error."""
    if doc.get(obj, key) is None:
        problems.append(_null_list(join(where, key)))
        return None
    return doc.items(obj, key, where)


def _min_one(doc: Doc, obj: dict[str, Any], key: str, where: str, problems: list[str]) -> str:
    value = doc.string(obj, key, where) or ""
    if not value:
        at = join(where, key)
        problems.append(f'{at}: Invalid value: "": {at} in body should be at least 1 chars long')
    return value


def _null_list(where: str) -> str:
    return f'{where}: Invalid value: "null": {where} in body must be of type array: "null"'


def _min_items(where: str) -> str:
    return f"{where}: Invalid value: 0: {where} in body should have at least 1 items"
