"""``pydapr run`` flags: parsing, home defaults, the sidecar's argv (``pydapr sidecar`` takes it), app env."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from pydapr.cli import run, sidecar
from pydapr.cli.ports import PortAllocator
from pydapr.cli.runconfig import ConfigError, RunConfig, assign_ports, random_app_id


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("PYDAPR_HOME", str(path))
    return path


def parse(*args: str) -> dict[str, Any]:
    ctx = run.command.make_context("run", list(args))
    return dict(ctx.params)


def flags_config(*args: str) -> RunConfig:
    return run.config_from_flags(parse(*args))


def test_short_flags_and_the_app_command_after_double_dash() -> None:
    cfg = flags_config(
        "-a", "orders", "-p", "5000", "-P", "GRPC", "-H", "3501", "-G", "50002", "-I", "50010", "-M", "9091",
        "-c", "cfg.yaml", "-u", "/tmp/socks", "--", "python", "app.py", "--port", "5000",
    )  # fmt: skip
    assert (cfg.app_id, cfg.app_port, cfg.app_protocol) == ("orders", 5000, "grpc")
    assert (cfg.dapr_http_port, cfg.dapr_grpc_port, cfg.dapr_internal_grpc_port) == (3501, 50002, 50010)
    assert cfg.metrics_port == 9091
    assert cfg.config_file == Path("cfg.yaml")
    assert cfg.unix_domain_socket == Path("/tmp/socks")
    assert cfg.command == ["python", "app.py", "--port", "5000"]


def test_the_app_command_may_come_without_double_dash_and_keeps_its_own_flags() -> None:
    assert flags_config("-a", "x", "node", "app.js", "--inspect").command == ["node", "app.js", "--inspect"]


def test_unset_ports_are_minus_one_until_assigned() -> None:
    cfg = flags_config("-a", "x")
    assert (cfg.app_port, cfg.dapr_http_port, cfg.dapr_grpc_port, cfg.metrics_port) == (-1, -1, -1, -1)
    assert cfg.command == []


def test_resources_path_repeats_and_splits_on_commas_and_components_path_is_the_old_name() -> None:
    cfg = flags_config("--resources-path", "a,b", "--resources-path", "c")
    assert cfg.resources_paths == [Path("a"), Path("b"), Path("c")]
    assert flags_config("-d", "old").resources_paths == [Path("old")]
    # --resources-path wins over the deprecated flag, as in dapr.
    assert flags_config("-d", "old", "--resources-path", "new").resources_paths == [Path("new")]


def test_home_defaults_only_when_they_exist(home: Path) -> None:
    cfg = flags_config("-a", "x")
    assert cfg.resources_paths == [] and cfg.config_file is None
    (home / "components").mkdir()
    (home / "config.yaml").write_text("kind: Configuration\n")
    cfg = flags_config("-a", "x")
    assert cfg.resources_paths == [home / "components"]
    assert cfg.config_file == home / "config.yaml"
    assert flags_config("-c", "mine.yaml").config_file == Path("mine.yaml")


def test_bad_choice_is_a_usage_error() -> None:
    with pytest.raises(click.BadParameter):
        parse("-P", "carrier-pigeon")


def test_random_app_id_when_empty() -> None:
    cfg = RunConfig()
    cfg.validate()
    assert cfg.app_id and "-" in cfg.app_id
    assert all(part.isalpha() for part in random_app_id().split("-"))


def test_sidecar_argv_is_accepted_by_pydapr_sidecar(tmp_path: Path) -> None:
    resources = tmp_path / "res"
    resources.mkdir()
    cfg = flags_config(
        "-a", "orders", "-p", "5000", "-P", "grpc", "--resources-path", str(resources), "-c", "c.yaml",
        "--app-max-concurrency", "3", "--log-level", "panic", "--enable-api-logging",
        "--max-body-size", "8Mi", "--app-channel-address", "10.0.0.5", "--enable-app-health-check",
        "--app-health-check-path", "/hz", "--app-health-probe-interval", "2",
        "--app-health-probe-timeout", "300", "--app-health-threshold", "4",
        "--placement-host-address", "placement", "--scheduler-host-address", "sched:7000",
        "--dapr-listen-addresses", "0.0.0.0", "--log-as-json",
    )  # fmt: skip
    cfg.validate()
    assign_ports([cfg])
    argv = cfg.sidecar_argv()
    assert argv[:4] == [sys.executable, "-m", "pydapr", "sidecar"]
    params = sidecar.command.make_context("sidecar", argv[4:]).params
    options = sidecar.build_options(params)
    assert options.app_id == "orders" and options.app_port == 5000 and options.app_protocol == "grpc"
    assert options.dapr_http_port == cfg.dapr_http_port and options.dapr_grpc_port == cfg.dapr_grpc_port
    # The internal port is left to the sidecar, which binds a free one itself (no race for it).
    assert cfg.dapr_internal_grpc_port == 0 and options.dapr_internal_grpc_port is None
    assert options.metrics_port == cfg.metrics_port
    assert options.resources_paths == (resources,) and options.configs == (Path("c.yaml"),)
    assert options.app_max_concurrency == 3 and options.log_level == "fatal" and options.log_as_json
    assert options.enable_api_logging and options.max_body_size == 8 * 1024 * 1024
    assert options.app_channel_address == "10.0.0.5"
    assert options.enable_app_health_check and options.app_health_check_path == "/hz"
    assert options.app_health_probe_interval == 2 and options.app_health_probe_timeout == 0.3
    assert options.app_health_threshold == 4
    # A host without a port gets Dapr's default port.
    assert options.placement_host_address == "placement:50005"
    assert options.scheduler_host_address == "sched:7000"
    assert options.dapr_listen_addresses == ("0.0.0.0",)


def test_sidecar_argv_leaves_unset_settings_to_the_sidecar() -> None:
    cfg = flags_config("-a", "x")
    cfg.validate()
    assign_ports([cfg])
    argv = cfg.sidecar_argv()
    for flag in (
        "--app-port", "--app-health-check-path", "--app-health-probe-interval", "--app-health-threshold",
        "--placement-host-address", "--scheduler-host-address", "--app-max-concurrency", "--config",
        "--resources-path", "--app-channel-address", "--unix-domain-socket", "--dapr-internal-grpc-port",
    ):  # fmt: skip
        assert flag not in argv


def test_empty_placement_address_disables_it() -> None:
    cfg = flags_config("-a", "x", "--placement-host-address", "")
    cfg.validate()
    assert cfg.placement_host_address == ""
    assert "--placement-host-address" not in cfg.sidecar_argv()


def test_empty_addresses_disable_the_services_and_start_no_control_plane(home: Path) -> None:
    from pydapr.cli.process import Console
    from pydapr.controlplane.state import read_state

    cfg = flags_config("-a", "x", "--placement-host-address", "", "--scheduler-host-address", "")
    cfg.validate()
    run.use_local_control_plane([cfg], Console())
    assert (cfg.placement_host_address, cfg.scheduler_host_address) == ("", "")
    argv = cfg.sidecar_argv()
    assert "--scheduler-host-address" not in argv and "--placement-host-address" not in argv
    assert read_state(home) is None  # nothing was started for them


def test_app_env() -> None:
    cfg = RunConfig(
        app_id="orders", app_port=5000, dapr_http_port=3501, dapr_grpc_port=50002, metrics_port=9091,
        env={"FROM_RUN_FILE": "1", "APP_PROTOCOL": "overridden"},
    )  # fmt: skip
    env = cfg.app_env({"PATH": "/bin", "DAPR_API_TOKEN": "t", "APP_ID": "stale"})
    assert env == {
        "PATH": "/bin",
        "DAPR_API_TOKEN": "t",
        "APP_ID": "orders",
        "APP_CHANNEL_ADDRESS": "127.0.0.1",
        "APP_PORT": "5000",
        "APP_PROTOCOL": "overridden",  # the run file's env comes last, as in dapr
        "DAPR_HTTP_PORT": "3501",
        "DAPR_GRPC_PORT": "50002",
        "DAPR_METRICS_PORT": "9091",
        "FROM_RUN_FILE": "1",
    }


def test_app_env_without_app_port_and_with_app_ssl() -> None:
    cfg = RunConfig(
        app_id="a", app_port=0, app_protocol="grpc", app_ssl=True, dapr_http_port=1, dapr_grpc_port=2
    )
    env = cfg.app_env({})
    assert "APP_PORT" not in env
    assert env["APP_PROTOCOL"] == "grpcs"


def test_sidecar_env_sets_host_ip_unless_given() -> None:
    assert RunConfig().sidecar_env({})["DAPR_HOST_IP"] == "127.0.0.1"
    assert RunConfig().sidecar_env({"DAPR_HOST_IP": "10.1.1.1"})["DAPR_HOST_IP"] == "10.1.1.1"


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (RunConfig(app_id="a", resources_paths=[Path("/nonexistent-dir")]),
         'error validating resources path "/nonexistent-dir": no such file or directory'),
        (RunConfig(app_id="a", max_body_size="lots"), "invalid max request body size: "),
        (RunConfig(app_id="a", command=["no-such-program-xyz"]),
         "Failed to find command no-such-program-xyz: executable file not found in $PATH"),
        (RunConfig(app_id="a", command=["./missing.sh"]),
         "Failed to find command ./missing.sh: no such executable file"),
        (RunConfig(app_id="a", command=[" "]), "exec: no command"),
    ],
)  # fmt: skip
def test_validation_errors(cfg: RunConfig, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        cfg.validate()
    assert str(err.value).startswith(message)


def test_cli_port_taken_prints_one_line_and_exits_1() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(run.command, ["-a", "x", "-M", str(port)])
    assert result.exit_code == 1
    assert (
        result.output.strip()
        .splitlines()[-1]
        .endswith(f"invalid configuration for MetricsPort. Port {port} is not available")
    )


def test_cli_with_run_file_warns_about_ignored_flags(tmp_path: Path) -> None:
    (tmp_path / "apps.yaml").write_text("version: 1\napps: []\n")
    result = CliRunner().invoke(run.command, ["-a", "x", "-H", "3600", "-f", str(tmp_path / "apps.yaml")])
    assert result.exit_code == 1
    assert (
        "The following flags are ignored when using --run-file and should be configured in the run file "
        "instead: --app-id, --dapr-http-port"
    ) in result.output
    assert "No apps to run" in result.output


def test_cli_run_file_port_clash_names_the_app(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    path = tmp_path / "dapr.yaml"
    port = PortAllocator().free()
    path.write_text(
        "version: 1\napps:\n"
        f"  - appDirPath: a\n    daprHTTPPort: {port}\n"
        f"  - appDirPath: b\n    daprHTTPPort: {port}\n"
    )
    result = CliRunner().invoke(run.command, ["-f", str(path)])
    assert result.exit_code == 1
    assert (
        f'Error validating run config for app "b" present in {path}: '
        f"invalid configuration for HTTPPort. Port {port} is already given to another listener"
    ) in result.output
