"""Dapr's HTTP middleware components (``httpPipeline`` / ``appHttpPipeline`` handlers).

Each is a component (metadata validated at ``init``) whose ``handler()`` is a middleware of the
shape the HTTP dispatch chain uses. Docs: docs/middleware.md.
"""

from __future__ import annotations

# Dapr component type and version -> "module:Class", imported only when a component of that type loads.
REGISTRY: dict[tuple[str, str], str] = {
    ("middleware.http.uppercase", "v1"): "pydapr.middleware.uppercase:UppercaseMiddleware",
    ("middleware.http.ratelimit", "v1"): "pydapr.middleware.ratelimit:RateLimitMiddleware",
    ("middleware.http.routeralias", "v1"): "pydapr.middleware.routeralias:RouterAliasMiddleware",
    ("middleware.http.routerchecker", "v1"): "pydapr.middleware.routerchecker:RouterCheckerMiddleware",
    ("middleware.http.bearer", "v1"): "pydapr.middleware.bearer:BearerMiddleware",
}
