"""The sidecar's settings, one field per daprd flag (dapr/dapr cmd/daprd/options/options.go)."""

from __future__ import annotations

from pathlib import Path

import msgspec

# Set by ``pydapr run`` to its own pid: the sidecar stops when its parent is no longer that process
# (pydapr.sidecar.main), should the kernel's parent-death signal not reach it.
RUNNER_PID_ENV = "PYDAPR_RUNNER_PID"

DEFAULT_MAX_BODY_SIZE = 4 * 1024 * 1024


class SidecarOptions(msgspec.Struct):
    app_id: str
    app_port: int | None = None
    app_protocol: str = "http"  # http | grpc | https | grpcs | h2c
    app_channel_address: str = "127.0.0.1"
    dapr_http_port: int = 3500
    dapr_grpc_port: int = 50001
    dapr_internal_grpc_port: int | None = None  # None: a free port
    # Where the internal listeners bind; None: all interfaces with mTLS, loopback without.
    dapr_internal_grpc_listen_address: str | None = None
    dapr_internal_proxy_port: int | None = None  # pydapr's internal gRPC (proxying) port; None: free
    metrics_port: int = 9090
    enable_metrics: bool = True
    metrics_listen_address: str = "0.0.0.0"  # daprd's default: every interface
    dapr_listen_addresses: tuple[str, ...] = ("127.0.0.1",)
    dapr_public_port: int | None = None
    resources_paths: tuple[Path, ...] = ()
    configs: tuple[Path, ...] = ()  # --config, repeatable as daprd's: combined in order
    log_level: str = "info"
    log_as_json: bool = False
    enable_api_logging: bool | None = None  # None: the Configuration's apiLogging.enabled decides
    allowed_origins: str = "*"  # --allowed-origins: CORS, comma-separated; "*" adds no CORS headers
    max_body_size: int = DEFAULT_MAX_BODY_SIZE
    read_buffer_size: int = 4 * 1024
    app_max_concurrency: int = -1
    dapr_graceful_shutdown_seconds: float = 5.0
    dapr_block_shutdown_duration: float | None = None
    enable_app_health_check: bool = False
    app_health_check_path: str = "/healthz"
    app_health_probe_interval: float = 5.0
    app_health_probe_timeout: float = 0.5
    app_health_threshold: int = 3
    placement_host_address: str | None = None
    scheduler_host_address: str | None = None
    unix_domain_socket: Path | None = None
    namespace: str = "default"
    mode: str = "standalone"
    app_ssl: bool = False
    enable_mtls: bool = False
    sentry_address: str | None = None
    control_plane_trust_domain: str = "localhost"
    control_plane_namespace: str = "default"
    control_plane_address: str | None = None
    # Working directory the sidecar was started in: relative paths in metadata resolve against it.
    base_dir: Path = msgspec.field(default_factory=Path.cwd)

    @property
    def app_uses_grpc(self) -> bool:
        return self.app_protocol in ("grpc", "grpcs")

    @property
    def app_uses_tls(self) -> bool:
        return self.app_protocol in ("https", "grpcs") or self.app_ssl
