"""What a test sidecar should be: plain data, so the plugin can import it at no cost."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# How long a sidecar (and the app beside it) may take to become ready before the fixture fails.
DEFAULT_STARTUP_TIMEOUT = 30.0
DEFAULT_APP_ID = "test-app"


@dataclass(frozen=True)
class App:
    """An app to start beside the sidecar, as ``pydapr run -- <command>`` would.

    ``command`` is the argv; ``{app_port}`` in any of its items is replaced by the app's port (a
    free one unless ``port`` is given). The app gets the environment ``pydapr run`` gives an app
    (``APP_ID``, ``APP_PORT``, ``APP_PROTOCOL``, ``DAPR_HTTP_PORT``, ``DAPR_GRPC_PORT`` ...), so an
    SDK client created in the app with no arguments reaches this sidecar.
    """

    command: Sequence[str]
    port: int | None = None
    protocol: str = "http"
    cwd: Path | str | None = None
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SidecarConfig:
    """One test sidecar: its app id, its resources, the app beside it.

    ``resources`` are folders of component YAML; none means the in-memory defaults (a ``statestore``
    of type ``state.in-memory`` and a ``pubsub`` of type ``pubsub.in-memory``). ``args`` are extra
    ``pydapr sidecar`` flags, ``env`` extra environment variables of the sidecar process.
    """

    app_id: str = DEFAULT_APP_ID
    resources: Sequence[Path | str] = ()
    config: Path | str | None = None
    app: App | None = None
    args: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT
