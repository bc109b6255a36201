"""Port choice for ``pydapr run``: free ports, taken ports, never one port for two listeners."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from pydapr.cli.ports import PortAllocator, PortError, port_available
from pydapr.cli.runconfig import ConfigError, RunConfig, assign_ports, repick_taken_ports


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_listening_port_is_not_available(listening: int) -> None:
    assert not port_available(listening)


def test_a_closed_port_is_available() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert port_available(port)


def test_free_ports_are_never_handed_out_twice() -> None:
    ports = PortAllocator()
    chosen = [ports.free() for _ in range(50)]
    assert len(set(chosen)) == 50
    assert all(port_available(p) for p in chosen)


def test_free_skips_ports_already_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter([4000, 4000, 4001])
    monkeypatch.setattr("pydapr.cli.ports._ephemeral_port", lambda: next(answers))
    ports = PortAllocator()
    assert ports.free() == 4000
    assert ports.free() == 4001


def test_claim_a_taken_port(listening: int) -> None:
    with pytest.raises(PortError) as err:
        PortAllocator().claim(listening, "HTTPPort")
    assert str(err.value) == f"invalid configuration for HTTPPort. Port {listening} is not available"


def test_claim_the_same_port_twice() -> None:
    ports = PortAllocator()
    port = ports.free()
    with pytest.raises(PortError) as err:
        ports.claim(port, "GRPCPort")
    assert (
        str(err.value)
        == f"invalid configuration for GRPCPort. Port {port} is already given to another listener"
    )


def test_assign_ports_fills_every_unset_port_uniquely() -> None:
    apps = [RunConfig(app_id="a"), RunConfig(app_id="b", app_port=7001)]
    assign_ports(apps)
    ports = [p for cfg in apps for p in (cfg.dapr_http_port, cfg.dapr_grpc_port, cfg.metrics_port)]
    assert all(p > 0 for p in ports)
    assert len(set([*ports, 7001])) == len(ports) + 1
    # The internal port is the sidecar's to bind (port 0: the kernel's pick, unique by construction).
    assert [cfg.dapr_internal_grpc_port for cfg in apps] == [0, 0]
    assert all("--dapr-internal-grpc-port" not in cfg.sidecar_argv() for cfg in apps)


def test_a_given_internal_port_is_kept_and_passed() -> None:
    given = PortAllocator().free()
    cfg = RunConfig(app_id="a", dapr_internal_grpc_port=given)
    assign_ports([cfg])
    argv = cfg.sidecar_argv()
    assert argv[argv.index("--dapr-internal-grpc-port") + 1] == str(given)


def test_a_picked_port_taken_meanwhile_is_replaced_and_a_given_one_is_not() -> None:
    given = PortAllocator().free()
    cfg = RunConfig(app_id="a", dapr_http_port=given)
    ports = assign_ports([cfg])
    picked_grpc, picked_metrics = cfg.dapr_grpc_port, cfg.metrics_port
    with socket.socket() as thief, socket.socket() as squatter:
        # Another process takes a port pydapr picked, and the port the user gave.
        thief.bind(("127.0.0.1", picked_grpc))
        thief.listen()
        squatter.bind(("127.0.0.1", given))
        squatter.listen()
        changes = repick_taken_ports(cfg, ports)
        assert [(attr, old) for attr, old, _ in changes] == [("dapr_grpc_port", picked_grpc)]
        assert cfg.dapr_grpc_port == changes[0][2] != picked_grpc
        assert port_available(cfg.dapr_grpc_port)
        assert cfg.dapr_http_port == given and cfg.metrics_port == picked_metrics
    assert cfg.dapr_grpc_port not in (given, picked_metrics, picked_grpc)


def test_given_ports_are_kept_and_never_picked_as_free_ones() -> None:
    given = PortAllocator().free()  # a port that is free right now
    cfg = RunConfig(app_id="a", dapr_grpc_port=given)
    ports = PortAllocator()
    assign_ports([cfg], ports)
    assert cfg.dapr_grpc_port == given
    assert given not in (cfg.dapr_http_port, cfg.metrics_port, cfg.dapr_internal_grpc_port)


def test_a_dapr_port_equal_to_the_app_port_is_refused() -> None:
    port = PortAllocator().free()
    with pytest.raises(ConfigError) as err:
        assign_ports([RunConfig(app_id="a", app_port=port, dapr_http_port=port)])
    assert (
        str(err.value)
        == f"invalid configuration for HTTPPort. Port {port} is already given to another listener"
    )


def test_two_apps_with_one_app_port_are_refused() -> None:
    with pytest.raises(ConfigError) as err:
        assign_ports([RunConfig(app_id="a", app_port=7100), RunConfig(app_id="b", app_port=7100)])
    assert str(err.value) == (
        'invalid configuration for AppPort. Port 7100 is the app port of both "a" and "b"'
    )


def test_given_port_taken_is_a_config_error(listening: int) -> None:
    with pytest.raises(ConfigError) as err:
        assign_ports([RunConfig(app_id="a", dapr_internal_grpc_port=listening)])
    assert "InternalGRPCPort" in str(err.value)
