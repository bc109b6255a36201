"""One app of ``pydapr run``: its settings (dapr CLI's RunConfig), the sidecar's argv and the app's env."""

from __future__ import annotations

import os
import random
import shutil
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydapr.cli.ports import PortAllocator, PortError, port_available
from pydapr.sidecar.options import RUNNER_PID_ENV

DEFAULT_APP_CHANNEL_ADDRESS = "127.0.0.1"
PLACEMENT_DEFAULT_PORT = 50005
SCHEDULER_DEFAULT_PORT = 50006
APP_PROTOCOLS = ("http", "grpc", "https", "grpcs", "h2c")
LOG_LEVELS = ("debug", "info", "warn", "error", "fatal", "panic")

_ADJECTIVES = (
    "amber", "bold", "brave", "bright", "calm", "clever", "cosmic", "crisp", "eager", "fancy", "gentle",
    "golden", "happy", "jolly", "keen", "lively", "lucky", "mellow", "mighty", "nimble", "proud", "quick",
    "quiet", "rapid", "shiny", "silent", "snowy", "sunny", "swift", "tidy", "witty", "zesty",
)  # fmt: skip
_NOUNS = (
    "badger", "bee", "bison", "crane", "dingo", "eagle", "falcon", "ferret", "gecko", "heron", "ibis",
    "jackal", "koala", "lemur", "lynx", "magpie", "marmot", "newt", "otter", "panda", "puffin", "quail",
    "raven", "salmon", "seal", "tapir", "toucan", "walrus", "wombat", "yak", "zebra",
)  # fmt: skip


class ConfigError(Exception):
    """A setting of ``pydapr run`` is wrong; the message is the one line shown to the user."""

    def __init__(self, message: str, app_id: str = "") -> None:
        super().__init__(message)
        self.app_id = app_id  # which app of a run file, when known


def random_app_id() -> str:
    """A readable id like dapr's generated ones (``swift-otter``) when ``--app-id`` is not given."""
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}"


@dataclass
class RunConfig:
    """The settings of one app and its sidecar; ports <= 0 mean "choose a free one" (``assign_ports``;
    the internal port stays 0: the sidecar binds a free one itself)."""

    app_id: str = ""
    app_port: int = -1
    app_protocol: str = "http"
    app_channel_address: str = DEFAULT_APP_CHANNEL_ADDRESS
    dapr_http_port: int = -1
    dapr_grpc_port: int = -1
    dapr_internal_grpc_port: int = -1
    metrics_port: int = -1
    config_file: Path | None = None
    resources_paths: list[Path] = field(default_factory=list)
    app_max_concurrency: int = -1
    log_level: str = "info"
    log_as_json: bool = False
    enable_api_logging: bool = False
    # None: not given (pydapr passes nothing); "": disabled; else host[:port].
    placement_host_address: str | None = None
    scheduler_host_address: str | None = None
    # mTLS with the local control plane's Sentry (set by use_local_control_plane).
    sentry_address: str | None = None
    trust_anchors: str | None = None  # PEM
    unix_domain_socket: Path | None = None
    max_body_size: str = "4Mi"
    app_ssl: bool = False
    enable_app_health_check: bool = False
    app_health_check_path: str = ""
    app_health_probe_interval: float = 0
    app_health_probe_timeout: int = 0
    app_health_threshold: int = 0
    dapr_listen_addresses: str = ""
    command: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    # The app's folder (run files): both processes start there and relative paths resolve there.
    work_dir: Path | None = None
    # The port fields pydapr chose (not the user): only these may be chosen again when another
    # process takes one before the sidecar listens on it (see ``repick_taken_ports``).
    picked_ports: set[str] = field(default_factory=set)

    # -- validation -------------------------------------------------------------------------------

    def validate(self) -> None:
        """Fill in the app id and check everything but ports (see ``assign_ports``)."""
        from pydapr.cli.sidecar import parse_size

        if not self.app_id:
            self.app_id = random_app_id()
        self.app_protocol = self.app_protocol.lower() or "http"
        if self.app_protocol not in APP_PROTOCOLS:
            raise ConfigError(
                f"invalid app protocol {self.app_protocol!r}: use one of {', '.join(APP_PROTOCOLS)}"
            )
        if self.log_level not in LOG_LEVELS:
            raise ConfigError(f"invalid log level {self.log_level!r}: use one of {', '.join(LOG_LEVELS)}")
        for path in self.resources_paths:
            if not path.is_dir():
                problem = "not a directory" if path.exists() else "no such file or directory"
                raise ConfigError(f'error validating resources path "{path}": {problem}')
        self.app_port = max(self.app_port, 0)
        if self.app_max_concurrency < 1:
            self.app_max_concurrency = -1
        try:
            parse_size(self.max_body_size)
        except Exception as exc:  # click.BadParameter carries the reason
            raise ConfigError(f"invalid max request body size: {exc}") from None
        self.placement_host_address = _with_port(self.placement_host_address, PLACEMENT_DEFAULT_PORT)
        self.scheduler_host_address = _with_port(self.scheduler_host_address, SCHEDULER_DEFAULT_PORT)
        if self.command:
            self._check_command()

    def _check_command(self) -> None:
        # Looked up before anything starts, so a typo costs no sidecar start and stop.
        program = self.command[0]
        if not program.strip():
            raise ConfigError("exec: no command")
        if os.sep in program:
            path = Path(program) if self.work_dir is None else self.work_dir / program
            if not (path.is_file() and os.access(path, os.X_OK)):
                raise ConfigError(f"Failed to find command {program}: no such executable file")
        elif shutil.which(program, path=self.env.get("PATH", os.environ.get("PATH"))) is None:
            raise ConfigError(f"Failed to find command {program}: executable file not found in $PATH")

    # -- what the processes get -------------------------------------------------------------------

    def sidecar_argv(self) -> list[str]:
        argv = [sys.executable, "-m", "pydapr", "sidecar", "--app-id", self.app_id]
        argv += ["--dapr-http-port", str(self.dapr_http_port), "--dapr-grpc-port", str(self.dapr_grpc_port)]
        # Unset, the internal port is bound by the sidecar itself on a port the kernel picks: nobody
        # needs it in advance (peers find it in the name resolution registry), so it cannot be lost
        # to another process between our choice and the sidecar's bind.
        if self.dapr_internal_grpc_port > 0:
            argv += ["--dapr-internal-grpc-port", str(self.dapr_internal_grpc_port)]
        argv += ["--metrics-port", str(self.metrics_port)]
        if self.app_port > 0:
            argv += ["--app-port", str(self.app_port)]
        argv += ["--app-protocol", self.app_protocol]
        if self.app_channel_address != DEFAULT_APP_CHANNEL_ADDRESS:
            argv += ["--app-channel-address", self.app_channel_address]
        for path in self.resources_paths:
            argv += ["--resources-path", str(path)]
        if self.config_file is not None:
            argv += ["--config", str(self.config_file)]
        # The sidecar has no "panic" level; dapr treats it as the most severe one.
        argv += ["--log-level", "fatal" if self.log_level == "panic" else self.log_level]
        argv += ["--max-body-size", self.max_body_size]
        if self.app_max_concurrency > 0:
            argv += ["--app-max-concurrency", str(self.app_max_concurrency)]
        argv += _flags(
            ("--log-as-json", self.log_as_json),
            ("--enable-api-logging", self.enable_api_logging),
            ("--app-ssl", self.app_ssl),
            ("--enable-app-health-check", self.enable_app_health_check),
        )
        # Zero means "the sidecar's default", as in dapr's run (ifneq:"0").
        if self.app_health_check_path:
            argv += ["--app-health-check-path", self.app_health_check_path]
        if self.app_health_probe_interval:
            argv += ["--app-health-probe-interval", f"{self.app_health_probe_interval:g}"]
        if self.app_health_probe_timeout:
            argv += ["--app-health-probe-timeout", str(self.app_health_probe_timeout)]
        if self.app_health_threshold:
            argv += ["--app-health-threshold", str(self.app_health_threshold)]
        if self.placement_host_address:
            argv += ["--placement-host-address", self.placement_host_address]
        if self.scheduler_host_address:
            argv += ["--scheduler-host-address", self.scheduler_host_address]
        if self.sentry_address:
            argv += ["--enable-mtls", "--sentry-address", self.sentry_address]
        if self.unix_domain_socket is not None:
            argv += ["--unix-domain-socket", str(self.unix_domain_socket)]
        if self.dapr_listen_addresses:
            argv += ["--dapr-listen-addresses", self.dapr_listen_addresses]
        return argv

    def sidecar_env(self, base: Mapping[str, str]) -> dict[str, str]:
        env = dict(base)
        env.setdefault("DAPR_HOST_IP", "127.0.0.1")
        # The sidecar stops when this runner is gone (pydapr.sidecar.main watches its parent).
        env[RUNNER_PID_ENV] = str(os.getpid())
        if self.trust_anchors:
            env["DAPR_TRUST_ANCHORS"] = self.trust_anchors
        return env

    def effective_app_protocol(self) -> str:
        # --app-ssl is the deprecated way to say https/grpcs.
        if self.app_ssl and self.app_protocol in ("http", "grpc"):
            return self.app_protocol + "s"
        return self.app_protocol

    def app_env(self, base: Mapping[str, str]) -> dict[str, str]:
        """Inherited env, then what ``dapr run`` sets for the app, then the run file's ``env``."""
        env = dict(base)
        env["APP_ID"] = self.app_id
        env["APP_CHANNEL_ADDRESS"] = self.app_channel_address
        if self.app_port > 0:
            env["APP_PORT"] = str(self.app_port)
        env["APP_PROTOCOL"] = self.effective_app_protocol()
        env["DAPR_HTTP_PORT"] = str(self.dapr_http_port)
        env["DAPR_GRPC_PORT"] = str(self.dapr_grpc_port)
        if self.metrics_port > 0:
            env["DAPR_METRICS_PORT"] = str(self.metrics_port)
        env.update(self.env)
        return env

    # -- where the sidecar can be reached -----------------------------------------------------------

    def socket_path(self, api: str) -> Path | None:
        if self.unix_domain_socket is None:
            return None
        return self.unix_domain_socket / f"dapr-{api}-{self.app_id}.socket"

    def api_host(self) -> str:
        first = self.dapr_listen_addresses.split(",")[0].strip()
        return "127.0.0.1" if first in ("", "0.0.0.0", "::", "[::]") else first.strip("[]")

    def start_line(self) -> str:
        if self.unix_domain_socket is not None:
            return (
                f"Starting Dapr with id {self.app_id}. HTTP Socket: {self.socket_path('http')}. "
                f"gRPC Socket: {self.socket_path('grpc')}."
            )
        return (
            f"Starting Dapr with id {self.app_id}. HTTP Port: {self.dapr_http_port}. "
            f"gRPC Port: {self.dapr_grpc_port}"
        )


_PORT_FIELDS = (
    ("dapr_http_port", "HTTPPort"),
    ("dapr_grpc_port", "GRPCPort"),
    ("metrics_port", "MetricsPort"),
    ("dapr_internal_grpc_port", "InternalGRPCPort"),
)
# Ports the app and the runner must know before the sidecar starts (its env, the readiness probe):
# pydapr picks these. The internal port is left to the sidecar (0 here: it binds a free one).
_PICKED_FIELDS = ("dapr_http_port", "dapr_grpc_port", "metrics_port")
PORT_USES = {
    "dapr_http_port": "the Dapr HTTP API",
    "dapr_grpc_port": "the Dapr gRPC API",
    "metrics_port": "metrics",
}


def assign_ports(configs: Iterable[RunConfig], ports: PortAllocator | None = None) -> PortAllocator:
    """Check the ports users gave, then give every unset port a free one, unique across all apps.

    Given ports go first so that a free port picked for one listener can never be one the user
    named for another; app ports are reserved, as the apps will listen on them. Returns the
    allocator, which knows every port of the run (for ``repick_taken_ports``).
    """
    ports = ports or PortAllocator()
    configs = list(configs)
    app_ports: dict[int, str] = {}
    for cfg in configs:
        if cfg.app_port > 0 and cfg.app_port in app_ports:
            raise ConfigError(
                f"invalid configuration for AppPort. Port {cfg.app_port} is the app port of "
                f'both "{app_ports[cfg.app_port]}" and "{cfg.app_id}"',
                cfg.app_id,
            )
        app_ports[cfg.app_port] = cfg.app_id
        ports.reserve(cfg.app_port)
    for cfg in configs:
        for attr, name in _PORT_FIELDS:
            value = getattr(cfg, attr)
            if value > 0:
                try:
                    ports.claim(value, name)
                except PortError as exc:
                    raise ConfigError(str(exc), cfg.app_id) from None
    for cfg in configs:
        for attr in _PICKED_FIELDS:
            if getattr(cfg, attr) <= 0:
                setattr(cfg, attr, ports.free())
                cfg.picked_ports.add(attr)
        cfg.dapr_internal_grpc_port = max(cfg.dapr_internal_grpc_port, 0)
    return ports


def repick_taken_ports(cfg: RunConfig, ports: PortAllocator) -> list[tuple[str, int, int]]:
    """New ports for those pydapr picked that another process now listens on.

    A picked port is free when chosen but bound only when the sidecar starts; in between, another
    process (a parallel test, another run) can take it and the sidecar fails with "address already
    in use". Returns (field, old, new) for each port replaced; ports the user gave are never moved.
    """
    changes = []
    for attr in _PICKED_FIELDS:
        old = getattr(cfg, attr)
        if attr in cfg.picked_ports and not port_available(old):
            new = ports.free()
            setattr(cfg, attr, new)
            changes.append((attr, old, new))
    return changes


def _with_port(address: str | None, default_port: int) -> str | None:
    if address is None:
        return None
    address = address.strip()
    if address and ":" not in address:
        return f"{address}:{default_port}"
    return address


def _flags(*pairs: tuple[str, bool]) -> list[str]:
    return [flag for flag, on in pairs if on]
