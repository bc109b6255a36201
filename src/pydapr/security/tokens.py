"""The API tokens, read in one place: ``DAPR_API_TOKEN`` (callers of the sidecar's API must send it)
and ``APP_API_TOKEN`` (the sidecar sends it to the app on every call), as daprd's
``pkg/security/token.go``.

Each may also come from a file named by ``<NAME>_FILE`` (a mounted secret), a pydapr extension:
the variable itself wins when both are set. A file is read whole, surrounding whitespace (the
newline ``echo`` or an editor leaves) stripped. A named file that cannot be read, or is empty, is a
``TokenFileError`` rather than "no token": a typo in a mount path must not silently open the API.
The value is never logged, nor put in an error message.
"""

from __future__ import annotations

import os

DAPR_API_TOKEN = "DAPR_API_TOKEN"
APP_API_TOKEN = "APP_API_TOKEN"
FILE_SUFFIX = "_FILE"


class TokenFileError(Exception):
    """A ``*_FILE`` variable names a file that gives no token; the message names the variable and
    the file, never its content."""

    def __init__(self, variable: str, path: str, problem: str) -> None:
        super().__init__(f"{variable}={path}: {problem}")
        self.variable = variable
        self.path = path


def dapr_api_token() -> str | None:
    """The token callers of the Dapr API must send as ``dapr-api-token``; None: no check."""
    return _token(DAPR_API_TOKEN)


def app_api_token() -> str | None:
    """The token the sidecar sends its app as ``dapr-api-token``; None: none sent."""
    return _token(APP_API_TOKEN)


def _token(name: str) -> str | None:
    # An empty variable is no token, as daprd's os.Getenv(...) == "" (and it does not hide a file).
    value = os.environ.get(name)
    if value:
        return value
    variable = name + FILE_SUFFIX
    path = os.environ.get(variable)
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            content = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenFileError(variable, path, f"cannot read the token file ({_reason(exc)})") from None
    token = content.strip()
    if not token:
        raise TokenFileError(variable, path, "the token file is empty")
    return token


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return "not UTF-8 text"
