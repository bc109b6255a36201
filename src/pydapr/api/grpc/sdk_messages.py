"""Dapr's generated messages from the ``dapr`` SDK's wheel, without running the SDK's package inits.

The sidecar needs only the SDK's generated modules (``dapr/proto/**/*_pb2.py``). Importing one the
usual way first runs ``dapr/__init__.py``, ``dapr/proto/__init__.py`` and
``dapr/proto/runtime/v1/__init__.py``: the SDK's settings, a scan of the installed distributions
(``importlib.metadata``, for a check of legacy ``dapr-ext-*`` installs) and every family's
``*_pb2_grpc`` stubs — about 3 MiB resident and 25 ms of a sidecar's start, for nothing it uses.

``install()`` puts stand-ins for those packages in ``sys.modules``: each has the real package's
``__path__``, so its submodules import as usual, and runs the real ``__init__`` only if something
asks it for a name that is not a submodule (a component plugin using the SDK's client in the
sidecar's process, say). Only the sidecar calls it, before anything imports ``dapr``.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

# The packages between ``dapr`` and the generated modules the sidecar imports, parents first.
_PACKAGES = (
    "dapr",
    "dapr.proto",
    "dapr.proto.common",
    "dapr.proto.common.v1",
    "dapr.proto.runtime",
    "dapr.proto.runtime.v1",
)


class _Package(types.ModuleType):
    """A package whose ``__init__`` runs only when one of the names it defines is asked for."""

    def __getattr__(self, name: str) -> Any:
        places = [Path(p) for p in self.__path__]
        if name.startswith("__") or any((p / f"{name}.py").exists() or (p / name).is_dir() for p in places):
            # A submodule: the import system loads it and sets it on the package.
            raise AttributeError(name)
        init = places[0] / "__init__.py"
        if not self.__dict__.get("_initialised") and init.exists():
            self.__dict__["_initialised"] = True
            self.__file__ = str(init)
            exec(compile(init.read_bytes(), str(init), "exec"), self.__dict__)
        try:
            return self.__dict__[name]
        except KeyError:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}") from None


def install() -> None:
    """Stand-ins for the SDK's packages, unless ``dapr`` is imported already (then they are real)."""
    if "dapr" in sys.modules:
        return
    spec = importlib.util.find_spec("dapr")  # finds the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        return  # not installed: the first import says so, as without this
    # Before 1.19 ``dapr`` is a namespace package (no __init__.py), possibly over several folders
    # (the dapr-ext-* distributions add to it): the stand-in keeps all of them.
    top = [str(p) for p in spec.submodule_search_locations]
    root = Path(top[0])
    for name in _PACKAGES:
        where = root.joinpath(*name.split(".")[1:])
        if not where.is_dir():
            return  # a layout this does not know: the usual imports, at their usual cost
        package = _Package(name)
        package.__path__ = top if name == "dapr" else [str(where)]
        package.__package__ = name
        package.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
        package.__spec__.submodule_search_locations = package.__path__
        sys.modules[name] = package
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, package)
