"""bindings.localstorage Init as contrib's: a missing rootPath is created, a file in its way is an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from pydapr.bindings.contract import InvokeRequest
from pydapr.bindings.localstorage import LocalStorageBinding
from pydapr.components.base import ComponentConfigError, ComponentMetadata


def meta(root: str, base: Path) -> ComponentMetadata:
    return ComponentMetadata("files", "bindings.localstorage", "v1", {"rootPath": root}, base_dir=base)


async def test_missing_root_folder_is_created_with_its_parents(tmp_path: Path) -> None:
    binding = LocalStorageBinding()
    await binding.init(meta("./data/nested", tmp_path))
    assert (tmp_path / "data" / "nested").is_dir()
    await binding.invoke(InvokeRequest("create", b"hi", {"fileName": "a.txt"}))
    assert (tmp_path / "data" / "nested" / "a.txt").read_bytes() == b"hi"


async def test_a_file_where_the_root_should_be_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("x")
    with pytest.raises(ComponentConfigError, match="unable to create directory"):
        await LocalStorageBinding().init(meta("taken", tmp_path))
