from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class HostOperation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UNKNOWN: _ClassVar[HostOperation]
    REPORT: _ClassVar[HostOperation]
    LOCK: _ClassVar[HostOperation]
    UPDATE: _ClassVar[HostOperation]
    UNLOCK: _ClassVar[HostOperation]
UNKNOWN: HostOperation
REPORT: HostOperation
LOCK: HostOperation
UPDATE: HostOperation
UNLOCK: HostOperation

class PlacementOrder(_message.Message):
    __slots__ = ("tables", "operation", "version")
    TABLES_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    tables: PlacementTables
    operation: str
    version: int
    def __init__(self, tables: _Optional[_Union[PlacementTables, _Mapping]] = ..., operation: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class PlacementTables(_message.Message):
    __slots__ = ("entries", "version", "replication_factor")
    class EntriesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: PlacementTable
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[PlacementTable, _Mapping]] = ...) -> None: ...
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_FACTOR_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.MessageMap[str, PlacementTable]
    version: str
    replication_factor: int
    def __init__(self, entries: _Optional[_Mapping[str, PlacementTable]] = ..., version: _Optional[str] = ..., replication_factor: _Optional[int] = ...) -> None: ...

class PlacementTable(_message.Message):
    __slots__ = ("load_map",)
    class LoadMapEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Host
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Host, _Mapping]] = ...) -> None: ...
    LOAD_MAP_FIELD_NUMBER: _ClassVar[int]
    load_map: _containers.MessageMap[str, Host]
    def __init__(self, load_map: _Optional[_Mapping[str, Host]] = ...) -> None: ...

class Host(_message.Message):
    __slots__ = ("name", "port", "entities", "id", "api_level", "namespace", "operation", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    API_LEVEL_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    port: int
    entities: _containers.RepeatedScalarFieldContainer[str]
    id: str
    api_level: int
    namespace: str
    operation: HostOperation
    version: int
    def __init__(self, name: _Optional[str] = ..., port: _Optional[int] = ..., entities: _Optional[_Iterable[str]] = ..., id: _Optional[str] = ..., api_level: _Optional[int] = ..., namespace: _Optional[str] = ..., operation: _Optional[_Union[HostOperation, str]] = ..., version: _Optional[int] = ...) -> None: ...
