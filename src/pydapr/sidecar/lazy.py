"""``OnFirstUse``: the stand-in a building block hands its transports for a part built on first use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class OnFirstUse:
    """Stands for what ``build()`` returns: every attribute read or set goes to it, and the first
    one builds it (``build`` keeps what it built). For parts most sidecars never call -- the actor
    runtime without a placement, the workflow engine without a worker -- so their modules are
    imported and their objects made on the first call, not at startup."""

    __slots__ = ("_build",)

    def __init__(self, build: Callable[[], object]) -> None:
        object.__setattr__(self, "_build", build)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._build(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._build(), name, value)
