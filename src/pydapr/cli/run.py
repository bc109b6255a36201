"""``pydapr run``: an app and its sidecar side by side, with ``dapr run``'s flags (or ``-f`` for many)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from pydapr.cli.ports import PortAllocator
from pydapr.cli.process import Console, LineSink, app_colour, colour_wanted
from pydapr.cli.runconfig import APP_PROTOCOLS, LOG_LEVELS, ConfigError, RunConfig, assign_ports
from pydapr.home import default_config_file, default_resources_dir

if TYPE_CHECKING:
    from pydapr.cli.runfile import RunFile
    from pydapr.cli.runner import AppRun

EXAMPLES = """\b
Examples:
  pydapr run --app-id myapp --app-port 5000 -- python app.py
  pydapr run --app-id myapp                # a sidecar only
  pydapr run -f dapr.yaml                  # several apps from a run file
"""

# Flags still honoured with -f (the rest belong in the run file), as in dapr.
_RUN_FILE_COMPATIBLE = {"run_file", "log_as_json", "command"}


def _options(f: Any) -> Any:
    opts = [
        click.option(
            "--app-id", "-a", default="", help="The id for your application, used for service discovery"
        ),
        click.option(
            "--app-port", "-p", type=int, default=-1, help="The port your application is listening on"
        ),
        click.option(
            "--app-protocol",
            "-P",
            type=click.Choice(APP_PROTOCOLS, case_sensitive=False),
            default="http",
            show_default=True,
            help="The protocol Dapr uses to talk to the application",
        ),
        click.option(
            "--dapr-http-port", "-H", type=int, default=-1, help="The HTTP port for Dapr to listen on"
        ),
        click.option(
            "--dapr-grpc-port", "-G", type=int, default=-1, help="The gRPC port for Dapr to listen on"
        ),
        click.option(
            "--dapr-internal-grpc-port", "-I", type=int, default=-1, help="The port for the internal API"
        ),
        click.option("--metrics-port", "-M", type=int, default=-1, help="The port of metrics on Dapr"),
        click.option(
            "--config", "-c", default="", help="Dapr configuration file [default: $PYDAPR_HOME/config.yaml]"
        ),
        click.option(
            "--resources-path",
            "resources_paths",
            multiple=True,
            help="The path for resources directory (repeatable) [default: $PYDAPR_HOME/components]",
        ),
        click.option(
            "--components-path", "-d", default="", hidden=True, help="Deprecated: use --resources-path"
        ),
        click.option("--app-max-concurrency", type=int, default=-1, help="The concurrency level of the app"),
        click.option(
            "--log-level",
            type=click.Choice(LOG_LEVELS, case_sensitive=False),
            default="info",
            show_default=True,
            help="The log verbosity",
        ),
        click.option("--log-as-json", is_flag=True, help="Log in JSON, the runner's lines and the sidecar's"),
        click.option("--enable-api-logging", is_flag=True, help="Log API calls at INFO verbosity"),
        click.option(
            "--placement-host-address",
            default=None,
            help="The placement service, host[:port] (default port 50005); empty to disable",
        ),
        click.option(
            "--scheduler-host-address",
            default=None,
            help="The scheduler service, host[:port] (default port 50006); empty to disable",
        ),
        click.option(
            "--unix-domain-socket", "-u", default="", help="Folder for the sidecar's Unix domain sockets"
        ),
        click.option("--max-body-size", default="4Mi", show_default=True, help="Max size of request body"),
        click.option(
            "--app-channel-address",
            default="127.0.0.1",
            show_default=True,
            help="The address the app listens on",
        ),
        click.option(
            "--enable-app-health-check", is_flag=True, help="Enable health checks for the application"
        ),
        click.option("--app-health-check-path", default="", help="Path used for health checks; HTTP only"),
        click.option("--app-health-probe-interval", type=float, default=0, help="Seconds between app probes"),
        click.option("--app-health-probe-timeout", type=int, default=0, help="Timeout of app probes in ms"),
        click.option(
            "--app-health-threshold", type=int, default=0, help="Failures before the app is unhealthy"
        ),
        click.option(
            "--dapr-listen-addresses", default="", help="Comma separated addresses the sidecar listens on"
        ),
        click.option("--app-ssl", is_flag=True, hidden=True, help="Deprecated: use --app-protocol https"),
        click.option(
            "--run-file", "-f", default="", help="A run file (or a folder with dapr.yaml, or -) of apps"
        ),
        click.argument("command", nargs=-1, type=click.UNPROCESSED),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


@click.command(
    name="run",
    epilog=EXAMPLES,
    context_settings={"help_option_names": ["-h", "--help"], "allow_interspersed_args": False},
)
@_options
def command(**params: Any) -> None:
    """Run Dapr and (optionally) your application side by side: pydapr run [flags] -- CMD [ARGS]."""
    ctx = click.get_current_context()
    console = Console(as_json=params["log_as_json"])
    if params["run_file"]:
        ignored = [
            f"--{name.replace('_', '-')}"
            for name in params
            if name not in _RUN_FILE_COMPATIBLE
            and ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)
        ]
        if ignored:
            console.warning(
                "The following flags are ignored when using --run-file and should be configured in the "
                "run file instead: " + ", ".join(ignored)
            )
        sys.exit(_run_file(params["run_file"], console))
    if not params["command"]:
        click.echo("WARNING: no application command found.")
    if params["components_path"]:
        click.echo('Flag --components-path has been deprecated, use "--resources-path" instead', err=True)
    if params["app_ssl"]:
        click.echo('Flag --app-ssl has been deprecated, use "--app-protocol" with https or grpcs', err=True)
    cfg = config_from_flags(params)
    if cfg.unix_domain_socket is not None:
        console.warning("Unix domain sockets are currently a preview feature")
    try:
        cfg.validate()
        ports = assign_ports([cfg])
    except ConfigError as exc:
        console.failure(str(exc))
        sys.exit(1)
    use_local_control_plane([cfg], console)
    from pydapr.cli.runner import run_single

    sys.exit(asyncio.run(run_single(cfg, console, ports)))


def use_local_control_plane(configs: list[RunConfig], console: Console) -> None:
    """Point sidecars that name no scheduler or no placement at the local control plane, starting it
    if it is down (as `dapr run` points at the services `dapr init` started). An empty address means
    the service is disabled and stays so."""
    no_scheduler = [cfg for cfg in configs if cfg.scheduler_host_address is None]
    no_placement = [cfg for cfg in configs if cfg.placement_host_address is None]
    if not no_scheduler and not no_placement:
        return
    from pydapr.controlplane import ControlPlaneError, ensure_running

    try:
        control_plane = ensure_running()
    except ControlPlaneError as exc:
        console.warning(
            f"The local control plane could not be started; the jobs API and actors are unavailable: {exc}"
        )
        return
    for cfg in no_scheduler:
        cfg.scheduler_host_address = control_plane.scheduler_address
    if control_plane.placement_address is not None:  # a control plane from before placement joined it
        for cfg in no_placement:
            cfg.placement_host_address = control_plane.placement_address
    # Its scheduler and placement speak mTLS when it runs Sentry (spec.mtls in <home>/config.yaml,
    # on by default): the sidecars that use them get certificates from that Sentry, and speak mTLS
    # to each other too, as Dapr's sidecars do under a control plane with mTLS.
    anchors_file = control_plane.trust_anchors_file
    if control_plane.sentry_address is not None and anchors_file is not None:
        try:
            anchors = anchors_file.read_text()
        except OSError as exc:
            console.failure(
                f"The local control plane runs Sentry, but its trust anchors are unreadable: {exc}"
            )
            sys.exit(1)
        for cfg in {id(c): c for c in [*no_scheduler, *no_placement]}.values():
            cfg.sentry_address = control_plane.sentry_address
            cfg.trust_anchors = anchors


def config_from_flags(params: dict[str, Any]) -> RunConfig:
    """The flags as a RunConfig, with pydapr's home defaults for resources and configuration."""
    resources = [Path(p) for value in params["resources_paths"] for p in value.split(",") if p]
    if not resources and params["components_path"]:
        resources = [Path(params["components_path"])]
    if not resources and default_resources_dir().is_dir():
        resources = [default_resources_dir()]
    config: Path | None = Path(params["config"]) if params["config"] else None
    if config is None and default_config_file().is_file():
        config = default_config_file()
    return RunConfig(
        app_id=params["app_id"],
        app_port=params["app_port"],
        app_protocol=params["app_protocol"].lower(),
        app_channel_address=params["app_channel_address"],
        dapr_http_port=params["dapr_http_port"],
        dapr_grpc_port=params["dapr_grpc_port"],
        dapr_internal_grpc_port=params["dapr_internal_grpc_port"],
        metrics_port=params["metrics_port"],
        config_file=config,
        resources_paths=resources,
        app_max_concurrency=params["app_max_concurrency"],
        log_level=params["log_level"].lower(),
        log_as_json=params["log_as_json"],
        enable_api_logging=params["enable_api_logging"],
        placement_host_address=params["placement_host_address"],
        scheduler_host_address=params["scheduler_host_address"],
        unix_domain_socket=Path(params["unix_domain_socket"]) if params["unix_domain_socket"] else None,
        max_body_size=params["max_body_size"],
        app_ssl=params["app_ssl"],
        enable_app_health_check=params["enable_app_health_check"],
        app_health_check_path=params["app_health_check_path"],
        app_health_probe_interval=params["app_health_probe_interval"],
        app_health_probe_timeout=params["app_health_probe_timeout"],
        app_health_threshold=params["app_health_threshold"],
        dapr_listen_addresses=params["dapr_listen_addresses"],
        command=list(params["command"]),
    )


def _run_file(value: str, console: Console) -> int:
    from pydapr.cli.runfile import RunFileError, find_run_file, load_run_file

    try:
        path = find_run_file(value)
    except RunFileError as exc:
        console.failure(f"Failed to get run file path: {exc}")
        return 1
    try:
        run_file = load_run_file(path)
    except RunFileError as exc:
        console.failure(f"Error getting apps from config file: {exc}")
        return 1
    for warning in run_file.warnings:
        console.warning(warning)
    if not run_file.apps:
        console.failure("No apps to run")
        return 1
    for app in run_file.apps:
        app.config.log_as_json = console.as_json
        if not app.config.command:
            console.warning(f'No application command found for app "{app.config.app_id}" present in {path}')
    try:
        for app in run_file.apps:
            current = app.config.app_id
            app.config.validate()
        ports = assign_ports(app.config for app in run_file.apps)
    except ConfigError as exc:
        app_id = exc.app_id or current
        console.failure(f'Error validating run config for app "{app_id}" present in {path}: {exc}')
        return 1
    use_local_control_plane([app.config for app in run_file.apps], console)
    from pydapr.cli.runner import run_many

    with contextlib.ExitStack() as files:
        runs = _app_runs(run_file, path, console, files, ports)
        return asyncio.run(run_many(runs, console, _started_line(console)))


def _app_runs(
    run_file: RunFile, path: str, console: Console, files: contextlib.ExitStack, ports: PortAllocator
) -> list[AppRun]:
    """One AppRun per app, its output going to the console with a prefix and/or to its log files.

    On a terminal each app's prefixes get a colour of their own (the APP one bold), so the lines
    of one app stand out in the merged stream; in a pipe, a file or with NO_COLOR they stay plain.
    """
    from pydapr.cli.runner import AppRun

    stamp = time.strftime("%Y%m%d%H%M%S")
    shared = {
        "runTemplatePath": os.path.abspath(path) if path != "-" else "-",
        "runTemplateName": run_file.name,
    }
    coloured = not console.as_json and colour_wanted(sys.stdout)
    runs = []
    for index, app in enumerate(run_file.apps):
        app_id = app.config.app_id
        metadata = dict(shared)
        sinks = []
        for kind, destination, label in (
            ("daprd", app.daprd_log_destination, "DAPR"),
            ("app", app.app_log_destination, "APP"),
        ):
            log_file = None
            # As dapr: no app log file for an app without a command.
            if destination != "console" and (kind == "daprd" or app.config.command):
                app.logs_dir.mkdir(parents=True, exist_ok=True)
                log_path = app.logs_dir / f"{app_id}_{kind}_{stamp}.log"
                log_file = files.enter_context(log_path.open("w"))
                # Where `dapr logs`-style tools and the dashboard find them (dapr's metadata keys).
                metadata["daprdLogPath" if kind == "daprd" else "appLogPath"] = str(log_path.absolute())
            shown = sys.stdout if destination != "file" else None
            sinks.append(
                LineSink(
                    f"== {label} - {app_id} == ",
                    shown,
                    log_file,
                    colour=app_colour(index) if coloured else "",
                    bold=kind == "app",
                )
            )
        runs.append(
            AppRun(
                app.config,
                console,
                sidecar_sink=sinks[0],
                app_sink=sinks[1],
                metadata=metadata,
                ports=ports,
            )
        )
    return runs


def _started_line(console: Console) -> Callable[[AppRun], None]:
    def started(run: AppRun) -> None:
        cfg = run.cfg
        console.info(
            f'Started Dapr with app id "{cfg.app_id}". HTTP Port: {cfg.dapr_http_port}. '
            f"gRPC Port: {cfg.dapr_grpc_port}"
        )
        console.info(f"Writing log files to directory : {(cfg.work_dir or Path.cwd()) / '.dapr' / 'logs'}")

    return started
