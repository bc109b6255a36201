"""Ports for test sidecars: never the same one twice, in one process or across xdist workers."""

from __future__ import annotations

from pathlib import Path

from pydapr.testing.ports import PortPicker


def test_one_picker_never_repeats_a_port() -> None:
    picker = PortPicker()
    ports = [picker.pick() for _ in range(200)]
    assert len(set(ports)) == len(ports)


def test_a_port_another_worker_recorded_is_never_picked(tmp_path: Path) -> None:
    record = tmp_path / "ports"
    mine = [PortPicker(record).pick() for _ in range(100)]  # a new picker each: only the record is shared
    assert len(set(mine)) == len(mine)
    assert sorted(int(p) for p in record.read_text().split()) == sorted(mine)
