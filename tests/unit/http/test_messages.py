"""Headers: a case-insensitive ordered multi-map; ``set`` leaves one field of a name, placed last."""

from __future__ import annotations

import pytest

from pydapr.http.messages import Headers


def test_get_is_case_insensitive_and_gives_the_first_value() -> None:
    h = Headers([("Content-Type", "a"), ("X-Twice", "1"), ("x-twice", "2")])
    assert h.get("content-type") == "a" and h.get("CONTENT-TYPE") == "a"
    assert h.get("x-twice") == "1"
    assert h.get("absent") is None and h.get("absent", "d") == "d"
    assert Headers().get("x") is None


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ([("a", "1"), ("b", "2")], [("a", "1"), ("b", "2"), ("x", "new")]),  # absent: appended
        ([("x", "old"), ("a", "1"), ("b", "2")], [("a", "1"), ("b", "2"), ("x", "new")]),  # moved last
        ([("a", "1"), ("x", "old")], [("a", "1"), ("x", "new")]),  # last already
        ([("x", "1"), ("a", "1"), ("X", "2"), ("b", "2")], [("a", "1"), ("b", "2"), ("x", "new")]),
        ([], [("x", "new")]),
    ],
)
def test_set_replaces_every_field_of_the_name_with_one_placed_last(
    before: list[tuple[str, str]], after: list[tuple[str, str]]
) -> None:
    h = Headers(before)
    held = h.items()
    h.set("X", "new")
    assert h.items() == after
    # A list taken before (a caller iterating it) is never changed under it.
    assert held == [(k.lower(), v) for k, v in before]
