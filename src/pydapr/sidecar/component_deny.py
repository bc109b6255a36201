"""``spec.components.deny``: component types the Configuration forbids this sidecar to load.

As daprd's authorizer (pkg/runtime/authorizer/component.go): each entry is ``type`` (every version)
or ``type/version``; a denied component is skipped with a warning naming it, and startup goes on.
Matching is daprd's, exact on the type as written in the file. One difference, on purpose: daprd
also refuses every component that has no ``spec.version`` once a deny list exists; pydapr compares
such a component as the version it loads (``v1``), since a missing version is otherwise accepted.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pydapr.components.registry import registry
from pydapr.resources import Component, registry_version

log = logging.getLogger("pydapr.components")


def parse_deny_list(entries: Sequence[str]) -> list[tuple[str, str]]:
    """``["bindings.smtp", "state.redis/v1"]`` → ``[("bindings.smtp", ""), ("state.redis", "v1")]``."""
    out = []
    for entry in entries:
        parts = entry.split("/")
        if not entry or len(parts) > 2:
            continue  # daprd ignores entries it cannot split into type[/version]
        out.append((parts[0], parts[1] if len(parts) == 2 else ""))
    return out


def allowed_components(specs: Sequence[Component], deny: Sequence[str]) -> list[Component]:
    """``specs`` without those ``deny`` names; each one left out is logged."""
    rules = parse_deny_list(deny)
    if not rules:
        return list(specs)
    kept = []
    for spec in specs:
        version = registry_version(spec.version, registry.versions(spec.type.lower()))
        if any(kind == spec.type and (not ver or ver == version) for kind, ver in rules):
            log.warning(
                "%s: component %r cannot be loaded because components of type %s/%s are denied "
                "by the Configuration (spec.components.deny)",
                spec.source,
                spec.name,
                spec.type,
                version,
            )
            continue
        kept.append(spec)
    return kept
