from __future__ import annotations

from pydapr.placement.client import placement_addresses


def test_placement_addresses() -> None:
    assert placement_addresses(None) == []
    assert placement_addresses("") == []
    assert placement_addresses("localhost") == ["localhost:50005"]
    assert placement_addresses(" a:1, b ,,c:3") == ["a:1", "b:50005", "c:3"]
    assert placement_addresses("[::1]:7,[::1],::1") == ["[::1]:7", "[::1]:50005", "[::1]:50005"]
