"""The local file and env secret stores, and the secrets API's scopes and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.errors import DaprError
from pydapr.resources.models import SecretScope
from pydapr.secrets.api import SecretsAPI
from pydapr.secrets.contract import SecretNotFound
from pydapr.secrets.local_env import LocalEnvSecretStore
from pydapr.secrets.local_file import LocalFileSecretStore

DOC = {
    "db": {"user": "admin", "password": "s3cret", "port": 5432, "tls": True},
    "token": "abc",
    "hosts": ["a", "b"],
}


async def file_store(tmp_path: Path, **props: str) -> LocalFileSecretStore:
    (tmp_path / "secrets.json").write_text(json.dumps(DOC))
    store = LocalFileSecretStore()
    meta = {"secretsFile": "secrets.json", **props}
    await store.init(ComponentMetadata("files", "secretstores.local.file", "v1", meta, base_dir=tmp_path))
    return store


async def test_file_store_flattens_nested_json_with_colon(tmp_path: Path) -> None:
    store = await file_store(tmp_path)
    assert await store.get_secret("db:password", {}) == {"db:password": "s3cret"}
    assert await store.get_secret("db:port", {}) == {"db:port": "5432"}
    assert await store.get_secret("db:tls", {}) == {"db:tls": "true"}
    assert await store.get_secret("hosts:1", {}) == {"hosts:1": "b"}
    bulk = await store.bulk_get_secret({})
    assert bulk["token"] == {"token": "abc"}
    assert set(bulk) == {"db:user", "db:password", "db:port", "db:tls", "token", "hosts:0", "hosts:1"}


async def test_file_store_custom_separator(tmp_path: Path) -> None:
    store = await file_store(tmp_path, nestedSeparator=".")
    assert await store.get_secret("db.user", {}) == {"db.user": "admin"}
    with pytest.raises(SecretNotFound, match="secret db:user not found"):
        await store.get_secret("db:user", {})


async def test_file_store_multi_valued(tmp_path: Path) -> None:
    store = await file_store(tmp_path, multiValued="true")
    assert await store.get_secret("db", {}) == {
        "user": "admin",
        "password": "s3cret",
        "port": "5432",
        "tls": "true",
    }
    assert await store.get_secret("token", {}) == {"token": "abc"}
    assert "MULTIPLE_KEY_VALUES_PER_SECRET" in store.features()
    bulk = await store.bulk_get_secret({})
    # Top-level arrays are not secrets in a multi-valued file (as in Dapr).
    assert set(bulk) == {"db", "token"}


async def test_file_store_errors_name_the_field_not_the_content(tmp_path: Path) -> None:
    store = LocalFileSecretStore()
    with pytest.raises(ComponentConfigError) as missing:
        await store.init(ComponentMetadata("f", "secretstores.local.file", "v1", {}, base_dir=tmp_path))
    assert missing.value.field_name == "secretsFile"
    with pytest.raises(ComponentConfigError, match="cannot read"):
        await store.init(
            ComponentMetadata(
                "f", "secretstores.local.file", "v1", {"secretsFile": "nope.json"}, base_dir=tmp_path
            )
        )
    (tmp_path / "bad.json").write_text('{"pw": "hunter2",')
    with pytest.raises(ComponentConfigError) as bad:
        await store.init(
            ComponentMetadata(
                "f", "secretstores.local.file", "v1", {"secretsFile": "bad.json"}, base_dir=tmp_path
            )
        )
    assert "hunter2" not in str(bad.value)


async def test_env_store_prefix_and_forbidden_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MYAPP_DB_PASSWORD", "pw1")
    monkeypatch.setenv("OTHER_VAR", "x")
    monkeypatch.setenv("DAPR_API_TOKEN", "tok")
    store = LocalEnvSecretStore()
    await store.init(ComponentMetadata("env", "secretstores.local.env", "v1", {"prefix": "MYAPP_"}))
    assert await store.get_secret("DB_PASSWORD", {}) == {"DB_PASSWORD": "pw1"}
    bulk = await store.bulk_get_secret({})
    assert bulk["DB_PASSWORD"] == {"DB_PASSWORD": "pw1"}
    assert "OTHER_VAR" not in bulk and "MYAPP_DB_PASSWORD" not in bulk
    plain = LocalEnvSecretStore()
    await plain.init(ComponentMetadata("env", "secretstores.local.env", "v1", {}))
    assert await plain.get_secret("DAPR_API_TOKEN", {}) == {"DAPR_API_TOKEN": ""}
    assert "DAPR_API_TOKEN" not in await plain.bulk_get_secret({})
    assert await plain.get_secret("UNSET_VARIABLE_XYZ", {}) == {"UNSET_VARIABLE_XYZ": ""}


async def test_api_scopes_and_error_codes(tmp_path: Path) -> None:
    store = await file_store(tmp_path)
    scopes = {
        "files": SecretScope(default_access="deny", allowed=("token",)),
        "open": SecretScope(default_access="allow", denied=("db:password",)),
    }
    api = SecretsAPI({"files": store, "open": store}, scopes)
    assert await api.get("files", "token", {}) == {"token": "abc"}
    with pytest.raises(DaprError) as denied:
        await api.get("files", "db:user", {})
    assert (denied.value.code, denied.value.http_status) == ("ERR_PERMISSION_DENIED", 403)
    assert denied.value.message == 'access denied by policy to get "db:user" from "files"'
    assert await api.bulk_get("files", {}) == {"token": {"token": "abc"}}
    open_bulk = await api.bulk_get("open", {})
    assert "db:password" not in open_bulk and "db:user" in open_bulk
    with pytest.raises(DaprError) as missing:
        await api.get("open", "nope", {})
    assert (missing.value.code, missing.value.http_status) == ("ERR_SECRET_GET", 500)
    assert (
        missing.value.message
        == "failed getting secret with key nope from secret store open: secret nope not found"
    )
    with pytest.raises(DaprError) as unknown:
        await api.get("other", "x", {})
    assert (unknown.value.code, unknown.value.http_status) == ("ERR_SECRET_STORE_NOT_FOUND", 401)
    with pytest.raises(DaprError) as none:
        await SecretsAPI({}, {}).get("files", "x", {})
    assert (none.value.code, none.value.http_status) == ("ERR_SECRET_STORES_NOT_CONFIGURED", 500)
