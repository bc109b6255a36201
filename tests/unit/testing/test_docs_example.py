"""docs/testing.md shows the FastAPI example as it is in examples/fastapi_app, file by file."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
FILES = ["app.py", "tests/conftest.py", "tests/test_app.py", "pyproject.toml"]


@pytest.mark.parametrize("name", FILES)
def test_the_doc_shows_the_example_file_unchanged(name: str) -> None:
    doc = (ROOT / "docs" / "testing.md").read_text()
    text = (ROOT / "examples" / "fastapi_app" / name).read_text().rstrip()
    assert f"`examples/fastapi_app/{name}`:" in doc
    assert f"\n{text}\n```" in doc
