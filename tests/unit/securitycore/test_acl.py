"""Access control decisions, as daprd's pkg/acl makes them (its trie and defaults)."""

from __future__ import annotations

from pydapr.resources.models import AccessControlSpec, AppPolicy, OperationRule
from pydapr.security.acl import AccessControl
from pydapr.security.spiffe import SpiffeId

CALLER = SpiffeId("public", "default", "caller")


def acl(
    *rules: OperationRule, default: str = "deny", app_default: str | None = None, http: bool = True
) -> AccessControl:
    spec = AccessControlSpec(
        default_action=default,
        trust_domain="public",
        policies=(AppPolicy("caller", "public", "default", app_default, rules),),
    )
    made = AccessControl.from_spec(spec, http_app=http)
    assert made is not None
    return made


def allowed(a: AccessControl, op: str, verb: str | None = "POST", who: SpiffeId | None = CALLER) -> bool:
    return a.denial(who, op, verb) is None


def test_nothing_configured_allows_everything() -> None:
    assert AccessControl.from_spec(None, http_app=True) is None


def test_plain_operation_covers_the_paths_below_it() -> None:
    a = acl(OperationRule("/orders", "allow", ("*",)))
    assert allowed(a, "orders") and allowed(a, "/orders/1/items")
    assert not allowed(a, "/ordersx") and not allowed(a, "/other")


def test_single_and_multi_segment_wildcards() -> None:
    a = acl(OperationRule("/one/*", "allow", ("*",)), OperationRule("/many/**", "allow", ("*",)))
    assert allowed(a, "/one/x") and not allowed(a, "/one/x/y")
    assert allowed(a, "/many/x") and allowed(a, "/many/x/y/z")


def test_http_verbs_and_case() -> None:
    a = acl(OperationRule("/Items", "allow", ("GET",)), app_default="deny")
    assert allowed(a, "/items", "GET") and allowed(a, "/ITEMS", "get")
    assert not allowed(a, "/items", "DELETE")  # a verb not listed: the app's default


def test_grpc_apps_ignore_verbs_and_case_matters() -> None:
    a = acl(OperationRule("/pkg.Svc/Do", "allow", ()), http=False)
    assert allowed(a, "/pkg.Svc/Do", None)
    assert not allowed(a, "/pkg.svc/do", None)


def test_defaults_global_app_and_unknown_callers() -> None:
    a = acl(OperationRule("/x", "deny", ("*",)), default="deny", app_default="allow")
    assert allowed(a, "/y")  # the app's default
    assert not allowed(a, "/x")
    assert not allowed(a, "/y", who=SpiffeId("public", "default", "stranger"))  # the global default
    assert not allowed(a, "/y", who=SpiffeId("other", "default", "caller"))  # another trust domain
    assert not allowed(a, "/y", who=None)  # no verified caller (no mTLS): the global default
    allow_all = acl(default="allow")
    assert allowed(allow_all, "/y", who=None)


def test_the_message_is_daprds() -> None:
    a = acl()
    assert a.denial(CALLER, "/neworder", "POST") == (
        "access control policy has denied access to id: spiffe://public/ns/default/caller "
        "operation: /neworder verb: POST"
    )
