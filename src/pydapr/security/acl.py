"""Access control (Configuration ``spec.accessControl``), evaluated on the receiving sidecar.

The caller is the SPIFFE id of its verified client certificate; without mTLS there is none and only
the global ``defaultAction`` applies, as in daprd (pkg/acl). A policy names an app by app id,
namespace and trust domain; its ``operations`` are matched as daprd's trie does:

- an operation is a path (``/`` prepended when missing), compared by segments; for an app whose
  protocol is HTTP both sides are lower-cased;
- a plain operation also covers every path below it (``/orders`` covers ``/orders/1/items``);
- ``/*`` as the last segment stands for exactly one segment, ``/**`` for any number;
- the shortest listed prefix of the path decides.

For an HTTP app the operation's ``httpVerb`` list (``*`` for any) decides; a verb it does not list
leaves the app's or the global default. For a gRPC app (and gRPC proxying) the operation's action
decides, whatever the verb.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from pydapr.resources.models import AccessControlSpec

from .spiffe import SpiffeId

ALLOW, DENY = "allow", "deny"
# Which action decided a call, as daprd's ACL metrics tell them apart: an app policy's, or the
# global defaultAction.
APP_POLICY, GLOBAL_POLICY = "app", "global"

# (caller, APP_POLICY or GLOBAL_POLICY, allowed): told about every decision, when set.
Observer = Callable[[SpiffeId | None, str, bool], None]


class _Operation(msgspec.Struct):
    action: str
    verbs: dict[str, str]


class _Node(msgspec.Struct):
    children: dict[str, _Node] = msgspec.field(default_factory=dict)
    operation: _Operation | None = None


class _AppPolicy(msgspec.Struct):
    trust_domain: str
    namespace: str
    default_action: str
    operations: _Node


class AccessControl:
    def __init__(self, default_action: str, policies: dict[tuple[str, str], _AppPolicy], http: bool) -> None:
        self.default_action = default_action
        self.policies = policies
        self.http = http
        self.observer: Observer | None = None  # the ACL metrics, when the sidecar records them

    @classmethod
    def from_spec(cls, spec: AccessControlSpec | None, *, http_app: bool) -> AccessControl | None:
        """None when nothing is configured (every call allowed); ``http_app``: the app's protocol."""
        if spec is None:
            return None
        policies: dict[tuple[str, str], _AppPolicy] = {}
        for p in spec.policies:
            root = _Node()
            for rule in p.operations:
                name = rule.name if rule.name.startswith("/") else "/" + rule.name
                if http_app:
                    name = name.lower()
                _put(
                    root,
                    name,
                    _Operation(rule.action.lower(), {v.upper(): rule.action.lower() for v in rule.http_verb}),
                )
            policies[(p.app_id, p.namespace)] = _AppPolicy(
                p.trust_domain, p.namespace, (p.default_action or "").lower(), root
            )
        return cls(spec.default_action.lower(), policies, http_app)

    def denial(self, caller: SpiffeId | None, operation: str, verb: str | None) -> str | None:
        """None when the call is allowed; else daprd's message. ``verb``: the HTTP verb, None for gRPC."""
        action, decided_by = self._action(caller, operation, verb)
        if self.observer is not None:
            self.observer(caller, decided_by, action == ALLOW)
        if action == ALLOW:
            return None
        who = caller.uri if caller is not None else ""
        shown = verb or "NONE"
        return f"access control policy has denied access to id: {who} operation: {operation} verb: {shown}"

    def _action(self, caller: SpiffeId | None, operation: str, verb: str | None) -> tuple[str, str]:
        """The action, and what daprd's metrics say decided it: the app's policy once the caller's
        policy has a ``defaultAction`` (whether or not an operation then matches), else global."""
        action = self.default_action
        if caller is None:
            return action, GLOBAL_POLICY
        policy = self.policies.get((caller.app_id, caller.namespace))
        if policy is None or policy.trust_domain != caller.trust_domain:
            return action, GLOBAL_POLICY
        decided_by = GLOBAL_POLICY
        if policy.default_action:
            action, decided_by = policy.default_action, APP_POLICY
        if not operation.startswith("/"):
            operation = "/" + operation
        if self.http:
            operation = operation.lower()
        found = _search(policy.operations, operation)
        if found is None:
            return action, decided_by
        if not self.http:
            return found.action, decided_by
        if not verb:
            return policy.default_action, decided_by
        return found.verbs.get(verb.upper(), found.verbs.get("*", action)), decided_by


def _put(root: _Node, operation: str, op: _Operation) -> None:
    node = root
    for segment in operation.split("/")[1:]:
        node = node.children.setdefault(segment, _Node())
    if node.operation is None:  # the first rule for an operation stands, as in daprd
        node.operation = op


def _search(root: _Node, operation: str) -> _Operation | None:
    segments = operation.split("/")[1:]
    node = root
    last = len(segments) - 1
    for i, segment in enumerate(segments):
        at_end = i == last
        child = node.children.get(segment)
        if child is None and at_end:
            child = node.children.get("*")
        if child is None:
            child = node.children.get("**")
        if child is None:
            return None
        node = child
        if node.operation is not None:
            return node.operation
        if at_end:
            star = node.children.get("*")
            return star.operation if star is not None else None
    return None
