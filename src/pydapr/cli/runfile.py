"""The ``pydapr run -f`` run file: dapr's multi-app run template (version 1, ``common``, ``apps``).

Paths in ``common`` are relative to the run file, paths in an app relative to its ``appDirPath``;
shared settings an app leaves unset come from ``common``. Errors carry dapr's wording plus a line.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pydapr.cli.runconfig import RunConfig
from pydapr.home import default_config_file, default_resources_dir

DEFAULT_RUN_FILE_NAME = "dapr.yaml"
APP_DAPR_DIR = ".dapr"  # per-app folder with resources/, config.yaml and logs/, as in dapr
LOG_DESTINATIONS = ("console", "file", "fileAndConsole")
# dapr sends daprd logs to a file only; pydapr shows them too, so one stream has every process.
DEFAULT_DAPRD_LOG_DESTINATION = "fileAndConsole"
DEFAULT_APP_LOG_DESTINATION = "fileAndConsole"

_INT = "tag:yaml.org,2002:int"
_NULL = "tag:yaml.org,2002:null"


class RunFileError(Exception):
    """The run file cannot be used; the message is the line shown after "Error getting apps ..."."""


@dataclass
class RunFileApp:
    config: RunConfig
    app_dir: Path
    app_log_destination: str
    daprd_log_destination: str

    @property
    def logs_dir(self) -> Path:
        return self.app_dir / APP_DAPR_DIR / "logs"


@dataclass
class RunFile:
    path: str  # as given, or "-" for stdin
    name: str
    apps: list[RunFileApp]
    warnings: list[str]


def find_run_file(value: str) -> str:
    """``-f`` takes a YAML file, a folder holding ``dapr.yaml``, or ``-`` for stdin."""
    if value == "-":
        return value
    path = Path(value)
    if not path.exists():
        raise RunFileError(f"error getting file info for {value}: no such file or directory")
    if path.is_dir():
        candidate = path / DEFAULT_RUN_FILE_NAME
        if not candidate.exists():
            raise RunFileError(
                f'error in validating the file path "{candidate}": '
                f"error in getting the file info for {candidate}: no such file or directory"
            )
        return str(candidate)
    if not value.endswith((".yaml", ".yml")):
        raise RunFileError(f'file "{value}" is not a YAML file')
    return value


def load_run_file(path: str, read_stdin: Callable[[], str] | None = None) -> RunFile:
    if path == "-":
        text = (read_stdin or sys.stdin.read)()
        base_dir = Path.cwd()
    else:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise RunFileError(f"error in reading the provided app config file: {exc.strerror}") from None
        base_dir = Path(path).resolve().parent
    return parse_run_file(text, base_dir, path)


# -- fields ----------------------------------------------------------------------------------------

# yaml key -> kind, for settings common to all apps (dapr's SharedRunConfig).
SHARED_FIELDS = {
    "configFilePath": "str",
    "appProtocol": "str",
    "apiListenAddresses": "str",
    "enableProfiling": "bool",
    "logLevel": "str",
    "appMaxConcurrency": "int",
    "placementHostAddress": "str",
    "resourcesPath": "str",
    "resourcesPaths": "list",
    "appSSL": "bool",
    "maxBodySize": "str",
    "readBufferSize": "str",
    "enableAppHealthCheck": "bool",
    "appHealthCheckPath": "str",
    "appHealthProbeInterval": "int",
    "appHealthProbeTimeout": "int",
    "appHealthThreshold": "int",
    "enableApiLogging": "bool",
    "runtimePath": "str",
    "env": "env",
    "daprdLogDestination": "str",
    "appLogDestination": "str",
    "schedulerHostAddress": "str",
}
APP_FIELDS = {
    **SHARED_FIELDS,
    "appID": "str",
    "appChannelAddress": "str",
    "appPort": "int",
    "daprHTTPPort": "int",
    "daprGRPCPort": "int",
    "profilePort": "int",
    "command": "list",
    "metricsPort": "int",
    "unixDomainSocket": "str",
    "daprInternalGRPCPort": "int",
    "appDirPath": "str",
    # Kubernetes-only settings of dapr's template: accepted, not used by pydapr.
    "containerImage": "str",
    "containerImagePullPolicy": "str",
    "createService": "bool",
}
TOP_FIELDS = {"version": "int", "name": "str", "common": "map", "apps": "apps"}
_PULL_POLICIES = ("Always", "Never", "IfNotPresent")


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _fail(node: yaml.Node, key: str, expected: str) -> RunFileError:
    shown = (
        node.value if isinstance(node, yaml.ScalarNode) else type(node).__name__.removesuffix("Node").lower()
    )
    return RunFileError(
        f"error in parsing the provided app config file: line {_line(node)}: {key}: "
        f"expected {expected}, got {shown!r}"
    )


def _value(node: yaml.Node, key: str, kind: str) -> Any:
    """The Python value of one field; None for a YAML null (an unset field, as in dapr)."""
    if isinstance(node, yaml.ScalarNode) and node.tag == _NULL:
        return None
    if kind in ("str", "int", "bool") and not isinstance(node, yaml.ScalarNode):
        raise _fail(node, key, {"str": "a string", "int": "an integer", "bool": "true or false"}[kind])
    if kind == "str":
        return node.value  # the text as written, as dapr's YAML decoder gives strings
    if kind == "int":
        try:
            return int(node.value, 0) if node.tag == _INT else int(node.value)
        except ValueError:
            raise _fail(node, key, "an integer") from None
    if kind == "bool":
        text = node.value.lower()
        if text in ("true", "yes", "on", "y"):
            return True
        if text in ("false", "no", "off", "n"):
            return False
        raise _fail(node, key, "true or false")
    if kind == "list":
        if not isinstance(node, yaml.SequenceNode) or not all(
            isinstance(item, yaml.ScalarNode) for item in node.value
        ):
            raise _fail(node, key, 'a list of strings, like ["python3", "app.py"]')
        return [item.value for item in node.value]
    if kind == "env":
        if not isinstance(node, yaml.MappingNode):
            raise _fail(node, key, "a mapping of names to values")
        env = {}
        for k, v in node.value:
            if not isinstance(v, yaml.ScalarNode):
                raise _fail(v, f"{key}.{k.value}", "a string")
            env[str(k.value)] = "" if v.tag == _NULL else v.value
        return env
    if kind in ("map", "apps"):
        return node
    raise AssertionError(kind)


def _section(
    node: yaml.Node | None, fields: dict[str, str], where: str, warnings: list[str]
) -> dict[str, Any]:
    """Fields present and not null in one mapping; unknown keys are ignored (as dapr) with a warning."""
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL):
        return {}
    if not isinstance(node, yaml.MappingNode):
        raise _fail(node, where, "a mapping")
    values: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = str(key_node.value)
        kind = fields.get(key)
        if kind is None:
            warnings.append(f"unknown field {key!r} in {where} (line {_line(key_node)}) is ignored")
            continue
        value = _value(value_node, key, kind)
        if value is not None:
            values[key] = value
    return values


# -- resolution ------------------------------------------------------------------------------------


def _resolve(base: Path, value: str) -> Path:
    """A path from the file: ``~`` expanded, relative ones against ``base``, and it must exist."""
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = base / path
    path = Path(str(path))
    if not path.exists():
        raise RunFileError(f"error in getting the file info for {path}: no such file or directory")
    return path


def _resources(section: dict[str, Any], base: Path) -> list[Path]:
    paths = [_resolve(base, p) for p in section.get("resourcesPaths", [])]
    if str(section.get("resourcesPath", "")).strip():
        paths.append(_resolve(base, section["resourcesPath"]))
    return paths


def parse_run_file(text: str, base_dir: Path, source: str = "run file") -> RunFile:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise RunFileError(f"error in parsing the provided app config file: {exc}") from None
    warnings: list[str] = []
    top = _section(root, TOP_FIELDS, "the run file", warnings)
    if not top.get("version"):
        raise RunFileError("required field 'version' not found in the provided run template file")
    common = _section(top.get("common"), SHARED_FIELDS, "common", warnings)
    common_resources = _resources(common, base_dir)
    common_config = _resolve(base_dir, common["configFilePath"]) if common.get("configFilePath") else None

    apps_node = top.get("apps")
    if apps_node is not None and not isinstance(apps_node, yaml.SequenceNode):
        raise _fail(apps_node, "apps", "a list of apps")
    apps: list[RunFileApp] = []
    seen: dict[str, int] = {}
    for index, app_node in enumerate(apps_node.value if apps_node is not None else []):
        section = _section(app_node, APP_FIELDS, f"app {index + 1}", warnings)
        app = _build_app(section, common, common_resources, common_config, base_dir)
        if app.config.app_id in seen:
            raise RunFileError(
                f'duplicate app id "{app.config.app_id}" in the provided run template file '
                f"(apps {seen[app.config.app_id]} and {index + 1})"
            )
        seen[app.config.app_id] = index + 1
        apps.append(app)
    return RunFile(path=source, name=str(top.get("name", "")), apps=apps, warnings=warnings)


def _build_app(
    app: dict[str, Any],
    common: dict[str, Any],
    common_resources: list[Path],
    common_config: Path | None,
    base_dir: Path,
) -> RunFileApp:
    if not app.get("appDirPath"):
        raise RunFileError("required field 'appDirPath' not found in the provided app config file")
    app_dir = _resolve(base_dir, app["appDirPath"])
    policy = app.get("containerImagePullPolicy")
    if policy and policy not in _PULL_POLICIES:
        raise RunFileError(
            f"invalid containerImagePullPolicy: {policy}, allowed values: {', '.join(_PULL_POLICIES)}"
        )

    # Precedence (dapr's): the app's own > <appDirPath>/.dapr/ > common > the pydapr home defaults.
    resources = _resources(app, app_dir)
    local_resources = app_dir / APP_DAPR_DIR / "resources"
    if not resources:
        if local_resources.exists():
            resources = [local_resources]
        elif common_resources:
            resources = list(common_resources)
        elif default_resources_dir().is_dir():
            resources = [default_resources_dir()]
    config: Path | None = _resolve(app_dir, app["configFilePath"]) if app.get("configFilePath") else None
    local_config = app_dir / APP_DAPR_DIR / "config.yaml"
    if config is None:
        if local_config.exists():
            config = local_config
        elif common_config is not None:
            config = common_config
        elif default_config_file().is_file():
            config = default_config_file()

    # A shared setting the app leaves unset (or zero, as dapr compares) comes from common.
    merged = dict(app)
    for key, value in common.items():
        if not merged.get(key):
            merged[key] = value
    env = {**common.get("env", {}), **app.get("env", {})}

    destinations = {}
    for key, default in (
        ("daprdLogDestination", DEFAULT_DAPRD_LOG_DESTINATION),
        ("appLogDestination", DEFAULT_APP_LOG_DESTINATION),
    ):
        value = merged.get(key) or default
        if value not in LOG_DESTINATIONS:
            raise RunFileError(f"invalid log destination type: {value}")
        destinations[key] = value

    cfg = RunConfig(
        app_id=merged.get("appID") or app_dir.name,
        app_port=merged.get("appPort", -1),
        app_protocol=str(merged.get("appProtocol", "http")).lower(),
        app_channel_address=merged.get("appChannelAddress") or "127.0.0.1",
        dapr_http_port=merged.get("daprHTTPPort", -1),
        dapr_grpc_port=merged.get("daprGRPCPort", -1),
        dapr_internal_grpc_port=merged.get("daprInternalGRPCPort", -1),
        metrics_port=merged.get("metricsPort", -1),
        config_file=config,
        resources_paths=resources,
        app_max_concurrency=merged.get("appMaxConcurrency", -1),
        log_level=str(merged.get("logLevel") or "info").lower(),
        enable_api_logging=merged.get("enableApiLogging", False),
        placement_host_address=merged.get("placementHostAddress"),
        scheduler_host_address=merged.get("schedulerHostAddress"),
        unix_domain_socket=Path(merged["unixDomainSocket"]) if merged.get("unixDomainSocket") else None,
        max_body_size=merged.get("maxBodySize") or "4Mi",
        app_ssl=merged.get("appSSL", False),
        enable_app_health_check=merged.get("enableAppHealthCheck", False),
        app_health_check_path=merged.get("appHealthCheckPath", ""),
        app_health_probe_interval=merged.get("appHealthProbeInterval", 0),
        app_health_probe_timeout=merged.get("appHealthProbeTimeout", 0),
        app_health_threshold=merged.get("appHealthThreshold", 0),
        dapr_listen_addresses=merged.get("apiListenAddresses", ""),
        command=list(merged.get("command", [])),
        env=env,
        work_dir=app_dir,
    )
    return RunFileApp(
        config=cfg,
        app_dir=app_dir,
        app_log_destination=destinations["appLogDestination"],
        daprd_log_destination=destinations["daprdLogDestination"],
    )
