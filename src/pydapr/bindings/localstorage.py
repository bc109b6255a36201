"""``bindings.localstorage``: files under one root folder (components-contrib bindings/localstorage).

Metadata: ``rootPath`` (required; created with its parents at Init when missing, as contrib's
``os.MkdirAll``). Operations: ``create`` (metadata
``fileName``, a new UUID when absent; data stored as given, or base64-decoded when the request
metadata says ``decodeBase64: true``; answers ``{"fileName"}``), ``get`` (``fileName``; answers the
content), ``list`` (answers a JSON array of paths relative to the root, optionally below
``fileName``), ``delete`` (``fileName``). A file name that resolves outside ``rootPath`` (``..``,
an absolute path, a symlink pointing out) is refused.
"""

from __future__ import annotations

import base64
import binascii
import os
import uuid
from pathlib import Path

import msgspec

from pydapr.bindings.contract import BindingError, InvokeRequest, InvokeResponse, OutputBinding
from pydapr.components.base import ComponentConfigError, ComponentMetadata

FILE_NAME = "fileName"


class LocalStorageBinding(OutputBinding):
    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        root_text = metadata.get("rootPath")
        if not root_text:
            raise ComponentConfigError(metadata.name, "rootPath", "is required")
        root = metadata.resolve_path(root_text)
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ComponentConfigError(
                metadata.name, "rootPath", f"unable to create directory {root}: {exc}"
            ) from None
        self._root = root.resolve()

    def operations(self) -> tuple[str, ...]:
        return ("create", "get", "list", "delete")

    def _path(self, name: str) -> Path:
        candidate = (self._root / name).resolve()
        if candidate != self._root and self._root not in candidate.parents:
            raise BindingError(f"file name {name!r} resolves outside rootPath; refused")
        return candidate

    def _required_name(self, request: InvokeRequest) -> Path:
        name = request.metadata.get(FILE_NAME, "")
        if not name:
            raise BindingError(f"required metadata '{FILE_NAME}' missing")
        path = self._path(name)
        if path == self._root:
            raise BindingError(f"file name {name!r} names rootPath itself")
        return path

    async def invoke(self, request: InvokeRequest) -> InvokeResponse:
        # Local file operations on small files: done inline, like Dapr's component.
        op = request.operation
        if op == "create":
            name = request.metadata.get(FILE_NAME) or str(uuid.uuid4())
            path = self._path(name)
            if path == self._root:
                raise BindingError(f"file name {name!r} names rootPath itself")
            data = request.data
            if request.metadata.get("decodeBase64", "").lower() == "true":
                try:
                    data = base64.b64decode(data, validate=True)
                except (binascii.Error, ValueError) as exc:
                    raise BindingError(f"data is not valid base64: {exc}") from None
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            rel = path.relative_to(self._root).as_posix()
            return InvokeResponse(msgspec.json.encode({"fileName": rel}), {FILE_NAME: rel})
        if op == "get":
            path = self._required_name(request)
            if not path.is_file():
                raise BindingError(f"file not found: {request.metadata[FILE_NAME]}")
            return InvokeResponse(path.read_bytes())
        if op == "delete":
            path = self._required_name(request)
            if not path.is_file():
                raise BindingError(f"file not found: {request.metadata[FILE_NAME]}")
            path.unlink()
            return InvokeResponse()
        if op == "list":
            base = (
                self._path(request.metadata.get(FILE_NAME, ""))
                if request.metadata.get(FILE_NAME)
                else self._root
            )
            if not base.is_dir():
                raise BindingError(f"folder not found: {request.metadata.get(FILE_NAME)}")
            names = sorted(
                Path(dirpath, f).relative_to(self._root).as_posix()
                for dirpath, _, files in os.walk(base)
                for f in files
            )
            return InvokeResponse(msgspec.json.encode(names))
        raise BindingError(f"unsupported operation {op}")
