"""Read multi-document YAML the way Dapr sees it, turning parser errors into one-line ResourceErrors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import ResourceError

__all__ = ["read_documents"]

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc]
    """SafeLoader that keeps timestamp-like scalars as text, as Go's YAML-to-JSON step does."""


def _as_text(loader: Any, node: Any) -> str:
    return str(loader.construct_scalar(node))


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _as_text)
_Loader.add_constructor("tag:yaml.org,2002:value", _as_text)


def read_documents(path: Path, data: bytes | str) -> list[Any]:
    """All documents of a file, ``None`` for empty ones, in order."""
    try:
        return list(yaml.load_all(data, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "unreadable"
        if mark is None:
            raise ResourceError(path, f"invalid YAML: {problem}") from None
        raise ResourceError(
            path, f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"
        ) from None
    except yaml.YAMLError as exc:
        raise ResourceError(path, f"invalid YAML: {' '.join(str(exc).split())}") from None
