"""The API tokens from the environment or a mounted file (pydapr.security.tokens)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pydapr.security import tokens
from pydapr.security.tokens import TokenFileError

READERS: dict[str, Callable[[], str | None]] = {
    "DAPR_API_TOKEN": tokens.dapr_api_token,
    "APP_API_TOKEN": tokens.app_api_token,
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in READERS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name + "_FILE", raising=False)


@pytest.mark.parametrize("name", READERS)
def test_unset_is_no_token(name: str) -> None:
    assert READERS[name]() is None


@pytest.mark.parametrize("name", READERS)
def test_variable(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(name, "v-secret")
    assert READERS[name]() == "v-secret"


@pytest.mark.parametrize("name", READERS)
def test_empty_variable_is_no_token(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(name, "")
    assert READERS[name]() is None


@pytest.mark.parametrize("name", READERS)
def test_file_with_its_newline_stripped(name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("  f-secret\n")
    monkeypatch.setenv(name + "_FILE", str(path))
    assert READERS[name]() == "f-secret"


@pytest.mark.parametrize("name", READERS)
def test_variable_wins_over_file(name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("from-file")
    monkeypatch.setenv(name + "_FILE", str(path))
    monkeypatch.setenv(name, "from-env")
    assert READERS[name]() == "from-env"
    # An empty variable is unset (as daprd's os.Getenv == ""): the file counts then.
    monkeypatch.setenv(name, "")
    assert READERS[name]() == "from-file"


def test_each_token_reads_its_own_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "app").write_text("app-secret")
    monkeypatch.setenv("DAPR_API_TOKEN", "dapr-secret")
    monkeypatch.setenv("APP_API_TOKEN_FILE", str(tmp_path / "app"))
    assert (tokens.dapr_api_token(), tokens.app_api_token()) == ("dapr-secret", "app-secret")


def test_the_file_is_read_at_each_call(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Nothing is cached here: the runtime reads once at startup, a rotated secret needs a restart.
    path = tmp_path / "token"
    path.write_text("one")
    monkeypatch.setenv("DAPR_API_TOKEN_FILE", str(path))
    assert tokens.dapr_api_token() == "one"
    path.write_text("two")
    assert tokens.dapr_api_token() == "two"


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: None, "cannot read the token file (No such file or directory)"),
        (lambda p: p.mkdir(), "cannot read the token file (Is a directory)"),
        (lambda p: p.write_bytes(b"\xff\xfe"), "cannot read the token file (not UTF-8 text)"),
        (lambda p: p.write_text(" \n"), "the token file is empty"),
    ],
    ids=["missing", "directory", "binary", "empty"],
)
@pytest.mark.parametrize("name", READERS)
def test_a_file_that_gives_no_token_is_an_error_naming_it(
    name: str, make: Callable[[Path], None], problem: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "mounted" / "token"
    path.parent.mkdir()
    make(path)
    monkeypatch.setenv(name + "_FILE", str(path))
    with pytest.raises(TokenFileError) as info:
        READERS[name]()
    assert str(info.value) == f"{name}_FILE={path}: {problem}"
    assert (info.value.variable, info.value.path) == (name + "_FILE", str(path))


def test_the_error_never_shows_the_content(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_bytes(b"half-a-secret\xff")
    monkeypatch.setenv("DAPR_API_TOKEN_FILE", str(path))
    with pytest.raises(TokenFileError) as info:
        tokens.dapr_api_token()
    assert "half-a-secret" not in str(info.value)
