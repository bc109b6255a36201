"""Read multi-document YAML the way Dapr's disk loader splits and decodes it.

Dapr cuts a file at every line that starts with ``---`` (the rest of that line is dropped) and
decodes each piece on its own, so one broken document does not hide the others. pydapr does the
same. A piece that cannot be parsed stops startup when it is recognisably a Dapr resource; any
other broken piece (a Helm template, some tool's half-YAML) is skipped with a warning, as Dapr
skips it.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import yaml

from .errors import ResourceError

__all__ = ["decode_text", "read_documents", "split_documents"]

log = logging.getLogger("pydapr.resources")

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_SEPARATOR = "\n---"
# What makes a piece of text a Dapr resource even when it does not parse.
_DAPR_LOOK = re.compile(
    r"^(?:apiVersion:\s*[\"']?dapr\.io/"
    r"|kind:\s*[\"']?(?:Component|Configuration|Resiliency|Subscription|HTTPEndpoint)\b)",
    re.MULTILINE,
)


class _Loader(_Base):  # type: ignore[misc]
    """SafeLoader that keeps timestamp-like scalars as text, as Go's YAML-to-JSON step does."""


def _as_text(loader: Any, node: Any) -> str:
    return str(loader.construct_scalar(node))


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _as_text)
_Loader.add_constructor("tag:yaml.org,2002:value", _as_text)
# Go's YAML reads 1e6 as a number; PyYAML's YAML 1.1 rules want a dot (1.0e6) for that.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def split_documents(text: str) -> list[tuple[int, str]]:
    """Dapr's ``splitYamlDoc``: pieces with the 0-based line each starts on."""
    pieces: list[tuple[int, str]] = []
    start = line = 0
    while start < len(text):
        at = text.find(_SEPARATOR, start)
        if at < 0:
            pieces.append((line, text[start:]))
            break
        pieces.append((line, text[start:at]))
        end = text.find("\n", at + len(_SEPARATOR))
        if end < 0:
            break
        line += text.count("\n", start, end + 1)
        start = end + 1
    return pieces


def decode_text(path: Path, data: bytes) -> str | None:
    """The file as text; ``None`` (with a warning) for a non-UTF-8 file that is not Dapr's."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if _DAPR_LOOK.search(data.decode("latin-1")):
            raise ResourceError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        log.warning("skipping %s: not UTF-8 text", path)
        return None


def read_documents(path: Path, text: str) -> list[tuple[int, Any]]:
    """Each document's 1-based position (as Dapr counts) and value; ``None`` for empty ones."""
    documents: list[tuple[int, Any]] = []
    for index, (line, piece) in enumerate(split_documents(text), start=1):
        try:
            # A piece holds one document; anything after a ``...`` end marker is ignored, as Go does.
            values = yaml.load_all(piece, Loader=_Loader)
            documents.append((index, next(values, None)))
        except yaml.YAMLError as exc:
            problem = _problem(exc, line)
            if _DAPR_LOOK.search(piece):
                raise ResourceError(path, problem) from None
            log.warning("skipping document %d of %s: %s", index, path, problem)
    return documents


def _problem(exc: yaml.YAMLError, line: int) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "unreadable"
        if mark is not None:
            return f"invalid YAML at line {line + mark.line + 1}, column {mark.column + 1}: {problem}"
        return f"invalid YAML: {problem}"
    return f"invalid YAML: {' '.join(str(exc).split())}"
