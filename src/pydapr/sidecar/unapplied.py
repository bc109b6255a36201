"""Settings pydapr reads but does not apply yet, each named in one startup warning.

A user who writes ``api.denied`` or a Resiliency timeout must not believe they are protected when
they are not. Every entry here goes away when its feature lands (the call pipeline, security and
observability work); nothing parsed is ever silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydapr.middleware.pipeline import unapplied_selectors
from pydapr.resources import Configuration, Resources
from pydapr.sidecar.options import SidecarOptions

# Preview features pydapr applies (ActorStateTTL: ttlInSeconds on actor state, pydapr.actors.state).
APPLIED_FEATURES = frozenset({"ActorStateTTL"})


def unapplied_settings(
    options: SidecarOptions, configuration: Configuration | None, resources: Resources
) -> Iterator[str]:
    """One message per setting given but not enforced, naming the flag, file and field."""
    if options.enable_mtls:
        yield "--enable-mtls: mTLS between sidecars is not implemented yet; calls between sidecars are plain"
    if configuration is not None:
        yield from _configuration(configuration)
    # Resiliency: targets.apps, targets.actors and targets.components are all applied (the pipeline).
    del resources  # kept in the signature for the next setting that is parsed before it is applied


def _configuration(config: Configuration) -> Iterator[str]:
    where = f'{config.source or "configuration"}: Configuration "{config.name}"'
    spec = config.spec
    if config.mtls is not None and config.mtls.enabled:
        yield f"{where}: spec.mtls is not applied yet; sidecar-to-sidecar calls are plain"
    if config.access_control is not None:
        yield f"{where}: spec.accessControl is not enforced yet; every caller is allowed"
    yield from unapplied_selectors(config)
    tracing = config.tracing
    if "tracing" in spec and (tracing.zipkin_endpoint or tracing.otel_endpoint or tracing.stdout):
        yield f"{where}: spec.tracing is not applied yet; no spans are exported"
    if "metric" in spec or "metrics" in spec:
        yield f"{where}: spec.metric is not applied yet; no metrics are served"
    enabled = sorted(name for name, on in config.features.items() if on and name not in APPLIED_FEATURES)
    if enabled:
        yield f"{where}: spec.features {', '.join(enabled)}: preview features are not applied by pydapr"
    if config.api_logging.obfuscate_urls:
        yield f"{where}: spec.logging.apiLogging.obfuscateURLs is not applied yet; API logs show full paths"
