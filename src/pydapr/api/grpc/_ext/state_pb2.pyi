from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class ListStateKeysRequest(_message.Message):
    __slots__ = ("store_name", "prefix", "limit", "token")
    STORE_NAME_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    store_name: str
    prefix: str
    limit: int
    token: str
    def __init__(self, store_name: _Optional[str] = ..., prefix: _Optional[str] = ..., limit: _Optional[int] = ..., token: _Optional[str] = ...) -> None: ...

class ListStateKeysResponse(_message.Message):
    __slots__ = ("keys", "token")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[str]
    token: str
    def __init__(self, keys: _Optional[_Iterable[str]] = ..., token: _Optional[str] = ...) -> None: ...
