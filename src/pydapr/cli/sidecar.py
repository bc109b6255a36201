"""``pydapr sidecar``: the sidecar process, with daprd's flags."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from pydapr.sidecar.options import DEFAULT_MAX_BODY_SIZE, SidecarOptions

APP_PROTOCOLS = ("http", "grpc", "https", "grpcs", "h2c")


def parse_size(value: str) -> int:
    """Parse Kubernetes-style quantities as daprd does (``4Mi``, ``512Ki``, ``1G``, ``1048576``)."""
    units = {
        "ki": 1024,
        "mi": 1024**2,
        "gi": 1024**3,
        "k": 1000,
        "m": 1000**2,
        "g": 1000**3,
        "kb": 1000,
        "mb": 1000**2,
        "gb": 1000**3,
        "b": 1,
    }
    text = value.strip()
    number = text.rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    unit = text[len(number) :].lower()
    try:
        base = float(number)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a size (examples: 4Mi, 512Ki, 1048576)") from None
    if unit and unit not in units:
        raise click.BadParameter(f"{value!r} has an unknown unit {unit!r} (use Ki, Mi, Gi)")
    return int(base * units.get(unit, 1))


def _duration(value: str) -> float:
    from pydapr.resources.durations import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def sidecar_options(f: Any) -> Any:
    """The daprd flags, shared with ``pydapr run``'s sidecar half."""
    opts = [
        click.option("--app-id", "-a", "app_id", default="", help="The id of the app (required)"),
        click.option(
            "--app-port", "-p", "app_port", type=int, default=None, help="The port the app listens on"
        ),
        click.option(
            "--app-protocol",
            "-P",
            "app_protocol",
            type=click.Choice(APP_PROTOCOLS),
            default="http",
            show_default=True,
            help="Protocol the app speaks",
        ),
        click.option("--app-channel-address", default="127.0.0.1", show_default=True),
        click.option("--dapr-http-port", "-H", type=int, default=3500, show_default=True),
        click.option("--dapr-grpc-port", "-G", type=int, default=50001, show_default=True),
        click.option("--dapr-internal-grpc-port", "-I", type=int, default=None),
        click.option("--metrics-port", "-M", type=int, default=9090, show_default=True),
        click.option(
            "--enable-metrics",
            type=click.BOOL,
            default=True,
            is_flag=False,
            flag_value=True,
            show_default=True,
            help="Serve Prometheus metrics on --metrics-port (daprd's Go flag: --enable-metrics=false)",
        ),
        click.option(
            "--metrics-listen-address",
            default="0.0.0.0",
            show_default=True,
            help="The address the metrics server listens on",
        ),
        click.option(
            "--resources-path",
            "--components-path",
            "-d",
            "resources_paths",
            multiple=True,
            type=click.Path(path_type=Path),
            help="Folder of resource YAML (repeatable); -d/--components-path is the deprecated alias",
        ),
        click.option(
            "--config",
            "-c",
            "configs",
            multiple=True,
            type=click.Path(path_type=Path),
            help="Configuration file (repeatable: later files add to and override earlier ones, as daprd)",
        ),
        click.option(
            "--log-level",
            type=click.Choice(["debug", "info", "warn", "warning", "error", "fatal"]),
            default="info",
            show_default=True,
        ),
        click.option("--log-as-json", is_flag=True, default=False),
        click.option(
            "--enable-api-logging",
            type=click.BOOL,
            default=None,
            is_flag=False,
            flag_value=True,
            help="Log every API call (daprd's Go flag: --enable-api-logging=false turns off what a "
            "Configuration's logging.apiLogging.enabled turns on; unset, the Configuration decides)",
        ),
        click.option(
            "--allowed-origins",
            default="*",
            show_default=True,
            help="Origins allowed to call the HTTP API from a browser (CORS), comma-separated",
        ),
        click.option("--max-body-size", default="4Mi", show_default=True, help="e.g. 4Mi"),
        click.option("--dapr-http-max-request-size", type=int, default=None, help="Deprecated: MB"),
        click.option("--app-max-concurrency", type=int, default=-1, show_default=True),
        click.option("--dapr-graceful-shutdown-seconds", type=float, default=5.0, show_default=True),
        click.option("--enable-app-health-check", is_flag=True, default=False),
        click.option("--app-health-check-path", default="/healthz", show_default=True),
        click.option("--app-health-probe-interval", type=float, default=5.0, show_default=True),
        click.option("--app-health-probe-timeout", type=int, default=500, show_default=True, help="ms"),
        click.option("--app-health-threshold", type=int, default=3, show_default=True),
        click.option("--placement-host-address", default=None),
        click.option("--scheduler-host-address", default=None),
        click.option("--unix-domain-socket", "-u", type=click.Path(path_type=Path), default=None),
        click.option("--dapr-listen-addresses", default="127.0.0.1", show_default=True),
        click.option("--app-ssl", is_flag=True, default=False, help="Deprecated: use --app-protocol https"),
        click.option(
            "--enable-mtls",
            is_flag=True,
            default=False,
            help="mTLS for every call between sidecars and to the control plane (needs --sentry-address "
            "and the trust anchors in DAPR_TRUST_ANCHORS)",
        ),
        click.option(
            "--sentry-address", default=None, help="host:port of the Sentry that signs certificates"
        ),
        click.option("--control-plane-trust-domain", default=None, help="default: localhost"),
        click.option("--control-plane-namespace", default=None, help="default: default"),
        click.option(
            "--dapr-internal-grpc-listen-address",
            default=None,
            help="Where the internal ports listen (default: all interfaces with mTLS, else 127.0.0.1)",
        ),
        click.option(
            "--dapr-internal-proxy-port",
            type=int,
            default=None,
            help="pydapr: the internal gRPC port for proxied calls from other sidecars (default: free)",
        ),
        click.option("--mode", type=click.Choice(["standalone", "kubernetes"]), default="standalone"),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def build_options(params: dict[str, Any]) -> SidecarOptions:
    app_id = params["app_id"]
    if not app_id:
        raise click.UsageError("--app-id is required")
    max_body = parse_size(params["max_body_size"]) if params["max_body_size"] else DEFAULT_MAX_BODY_SIZE
    if params.get("dapr_http_max_request_size"):
        max_body = params["dapr_http_max_request_size"] * 1024 * 1024
    app_port = params["app_port"]
    return SidecarOptions(
        app_id=app_id,
        app_port=app_port if app_port and app_port > 0 else None,
        app_protocol="https"
        if params["app_ssl"] and params["app_protocol"] == "http"
        else params["app_protocol"],
        app_channel_address=params["app_channel_address"],
        dapr_http_port=params["dapr_http_port"],
        dapr_grpc_port=params["dapr_grpc_port"],
        dapr_internal_grpc_port=params["dapr_internal_grpc_port"],
        metrics_port=params["metrics_port"],
        enable_metrics=params["enable_metrics"],
        metrics_listen_address=params["metrics_listen_address"],
        dapr_listen_addresses=tuple(
            a.strip() for a in params["dapr_listen_addresses"].split(",") if a.strip()
        ),
        resources_paths=tuple(params["resources_paths"]),
        configs=tuple(params["configs"]),
        log_level="warning" if params["log_level"] == "warn" else params["log_level"],
        log_as_json=params["log_as_json"],
        enable_api_logging=params["enable_api_logging"],
        allowed_origins=params["allowed_origins"],
        max_body_size=max_body,
        app_max_concurrency=params["app_max_concurrency"],
        dapr_graceful_shutdown_seconds=params["dapr_graceful_shutdown_seconds"],
        enable_app_health_check=params["enable_app_health_check"],
        app_health_check_path=params["app_health_check_path"],
        app_health_probe_interval=params["app_health_probe_interval"],
        app_health_probe_timeout=params["app_health_probe_timeout"] / 1000.0,
        app_health_threshold=params["app_health_threshold"],
        placement_host_address=params["placement_host_address"],
        scheduler_host_address=params["scheduler_host_address"],
        unix_domain_socket=params["unix_domain_socket"],
        app_ssl=params["app_ssl"],
        enable_mtls=params["enable_mtls"],
        sentry_address=params["sentry_address"],
        # Flag, then daprd's environment variables, then daprd's defaults.
        control_plane_trust_domain=params["control_plane_trust_domain"]
        or os.environ.get("DAPR_CONTROLPLANE_TRUST_DOMAIN")
        or "localhost",
        control_plane_namespace=params["control_plane_namespace"]
        or os.environ.get("DAPR_CONTROLPLANE_NAMESPACE")
        or "default",
        dapr_internal_grpc_listen_address=params["dapr_internal_grpc_listen_address"],
        dapr_internal_proxy_port=params["dapr_internal_proxy_port"],
        mode=params["mode"],
        namespace=os.environ.get("NAMESPACE") or "default",
        base_dir=Path.cwd(),
    )


@click.command(name="sidecar", context_settings={"help_option_names": ["-h", "--help"]})
@sidecar_options
def command(**params: Any) -> None:
    """Run a sidecar beside an app (the equivalent of daprd)."""
    options = build_options(params)
    from pydapr.sidecar.main import run_sidecar

    sys.exit(run_sidecar(options))
