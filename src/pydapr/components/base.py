"""What every component has, whatever its family: a name, metadata, init and close."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ComponentMetadata:
    """A component's resolved metadata (secretKeyRef and envRef already replaced by their values).

    ``base_dir`` is the sidecar's working directory: relative paths in metadata resolve against it.
    """

    name: str
    type: str
    version: str
    properties: dict[str, str] = field(default_factory=dict)
    app_id: str = ""
    namespace: str = "default"
    base_dir: Path = field(default_factory=Path.cwd)
    # The keys looked up (lower case): a key given that nothing reads is a setting pydapr does not
    # apply, which the sidecar names in a startup warning (unread()).
    _read: set[str] = field(default_factory=set, init=False, repr=False, compare=False)

    def get(self, key: str, default: str | None = None) -> str | None:
        """Look a property up case-insensitively, as Dapr does for component metadata."""
        self._read.add(key.lower())
        if key in self.properties:
            return self.properties[key]
        lower = key.lower()
        for k, v in self.properties.items():
            if k.lower() == lower:
                return v
        return default

    def require(self, key: str) -> str:
        value = self.get(key)
        if value is None or value == "":
            raise ComponentConfigError(self.name, key, "is required")
        return value

    def get_bool(self, key: str, default: bool = False) -> bool:
        value = self.get(key)
        if value is None or value == "":
            return default
        if value.lower() in ("true", "1", "yes", "on", "y"):
            return True
        if value.lower() in ("false", "0", "no", "off", "n"):
            return False
        raise ComponentConfigError(self.name, key, f"must be a boolean, got {value!r}")

    def get_int(self, key: str, default: int) -> int:
        value = self.get(key)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise ComponentConfigError(self.name, key, f"must be an integer, got {value!r}") from None

    def all_properties(self) -> dict[str, str]:
        """Every property, for a component that reads them all (each counts as read)."""
        self._read.update(k.lower() for k in self.properties)
        return self.properties

    def unread(self) -> list[str]:
        """The keys given that nothing has looked up so far, in the file's order."""
        return [k for k in self.properties if k.lower() not in self._read]

    def resolve_path(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path


class ComponentConfigError(Exception):
    """A component's metadata is wrong; the sidecar reports it with the file that declared it."""

    def __init__(self, component: str, field_name: str, problem: str) -> None:
        super().__init__(f"metadata.{field_name}: {problem}")
        self.component = component
        self.field_name = field_name
        self.problem = problem


class Component:
    """Base of all components: ``init`` connects (or prepares to connect lazily), ``close`` releases."""

    metadata: ComponentMetadata

    async def init(self, metadata: ComponentMetadata) -> None:
        self.metadata = metadata

    async def close(self) -> None:
        return None

    def features(self) -> frozenset[str]:
        """The optional capabilities this component offers (family-specific names, see contract.py)."""
        return frozenset()
