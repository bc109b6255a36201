"""Settings pydapr reads but does not apply yet, each named in one startup warning.

A user who writes ``api.denied`` or a Resiliency timeout must not believe they are protected when
they are not. Every entry here goes away when its feature lands (the call pipeline, security and
observability work); nothing parsed is ever silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydapr.middleware.pipeline import unapplied_selectors
from pydapr.resources import Configuration, Resources
from pydapr.resources.models import WorkflowSpec
from pydapr.sidecar.options import SidecarOptions

# Preview features pydapr applies (ActorStateTTL: ttlInSeconds on actor state, pydapr.actors.state).
APPLIED_FEATURES = frozenset({"ActorStateTTL"})


def unapplied_settings(
    options: SidecarOptions, configuration: Configuration | None, resources: Resources
) -> Iterator[str]:
    """One message per setting given but not enforced, naming the flag, file and field."""
    if configuration is not None:
        yield from _configuration(configuration, options)
    # Resiliency: targets.apps, targets.actors and targets.components are all applied (the pipeline).
    del resources  # kept in the signature for the next setting that is parsed before it is applied


def _configuration(config: Configuration, options: SidecarOptions) -> Iterator[str]:
    where = f'{config.source or "configuration"}: Configuration "{config.name}"'
    mtls = config.mtls
    if mtls is not None and mtls.enabled != options.enable_mtls:
        # As in Dapr, spec.mtls is the control plane's setting (Sentry, and whether sidecars get
        # --enable-mtls); a sidecar follows its flag.
        state = "on" if options.enable_mtls else "off"
        yield (
            f"{where}: spec.mtls.enabled is the control plane's setting (pydapr: <home>/config.yaml, "
            f"`pydapr sentry --config`); this sidecar runs with mTLS {state}, as --enable-mtls says"
        )
    if config.access_control is not None and config.access_control.policies and not options.enable_mtls:
        yield (
            f"{where}: spec.accessControl.policies need mTLS to know the caller: without --enable-mtls "
            f"only defaultAction ({config.access_control.default_action}) applies, as in daprd"
        )
    yield from unapplied_selectors(config)
    yield from _workflow(config.workflow, where)
    enabled = sorted(name for name, on in config.features.items() if on and name not in APPLIED_FEATURES)
    if enabled:
        yield f"{where}: spec.features {', '.join(enabled)}: preview features are not applied by pydapr"


def _workflow(spec: WorkflowSpec, where: str) -> Iterator[str]:
    # daprd's scheduler enforces these across an app's replicas (its WatchJobs concurrency
    # limits); pydapr's scheduler has no such limits. The per-sidecar ones are applied.
    given = [
        name
        for name, value in (
            ("globalMaxConcurrentWorkflowInvocations", spec.global_max_concurrent_workflow_invocations),
            ("globalMaxConcurrentActivityInvocations", spec.global_max_concurrent_activity_invocations),
            ("workflowConcurrencyLimits", spec.workflow_concurrency_limits),
            ("activityConcurrencyLimits", spec.activity_concurrency_limits),
        )
        if value
    ]
    for name in given:
        yield (
            f"{where}: spec.workflow.{name} is enforced by daprd's scheduler and not by pydapr's: "
            "no limit across replicas applies (maxConcurrentWorkflowInvocations and "
            "maxConcurrentActivityInvocations limit each sidecar)"
        )
