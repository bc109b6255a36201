"""The one error type of resource loading: a single line naming file, resource, field and problem."""

from __future__ import annotations

from pathlib import Path

__all__ = ["ResourceError"]


class ResourceError(Exception):
    """A resource file the sidecar cannot use; ``str()`` is the whole one-line message."""

    def __init__(
        self,
        file: Path | str,
        problem: str,
        *,
        kind: str | None = None,
        name: str | None = None,
        field: str | None = None,
        document: int | None = None,
    ) -> None:
        self.file = Path(file)
        self.problem = problem
        self.kind = kind
        self.name = name
        self.field = field
        self.document = document
        super().__init__(self._line(str(file)))

    def _line(self, file: str) -> str:
        parts = [file]
        if self.kind is not None:
            if self.name:
                parts.append(f'{self.kind} "{self.name}"')
            elif self.document is not None:
                # Without a name, the document's position is the only way to find it in the file.
                parts.append(f"{self.kind} (document {self.document})")
            else:
                parts.append(self.kind)
        elif self.document is not None:
            parts.append(f"document {self.document}")
        if self.field:
            parts.append(self.field)
        parts.append(self.problem)
        return ": ".join(parts)

    def __str__(self) -> str:
        return str(self.args[0])
