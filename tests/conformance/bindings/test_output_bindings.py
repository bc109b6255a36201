"""Output bindings against real servers: localstorage (and its root confinement), redis, postgresql,
mysql, http; every failure surfaces as ERR_INVOKE_OUTPUT_BINDING through the API."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import AsyncIterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from pydapr.bindings.api import BindingsAPI
from pydapr.bindings.contract import InvokeRequest, OutputBinding
from pydapr.components.base import ComponentMetadata
from pydapr.components.registry import registry
from pydapr.errors import DaprError


async def open_binding(type_name: str, props: dict[str, str], tmp: Path) -> OutputBinding:
    binding = registry.create(type_name, "v1")
    assert isinstance(binding, OutputBinding)
    await binding.init(ComponentMetadata("b", type_name, "v1", props, base_dir=tmp))
    return binding


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[BindingsAPI]:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "outside.txt").write_text("secret outside")
    binding = await open_binding("bindings.localstorage", {"rootPath": "root"}, tmp_path)
    yield BindingsAPI({"files": binding})
    await binding.close()


async def test_localstorage_create_get_list_delete(storage: BindingsAPI) -> None:
    created = await storage.invoke("files", InvokeRequest("create", b"hello", {"fileName": "a/b.txt"}))
    assert json.loads(created.data or b"") == {"fileName": "a/b.txt"}
    generated = await storage.invoke("files", InvokeRequest("create", b"aGk=", {"decodeBase64": "true"}))
    name = json.loads(generated.data or b"")["fileName"]
    assert (await storage.invoke("files", InvokeRequest("get", b"", {"fileName": name}))).data == b"hi"
    assert (
        await storage.invoke("files", InvokeRequest("get", b"", {"fileName": "a/b.txt"}))
    ).data == b"hello"
    listed = json.loads((await storage.invoke("files", InvokeRequest("list"))).data or b"")
    assert sorted(listed) == sorted(["a/b.txt", name])
    await storage.invoke("files", InvokeRequest("delete", b"", {"fileName": "a/b.txt"}))
    with pytest.raises(DaprError) as gone:
        await storage.invoke("files", InvokeRequest("get", b"", {"fileName": "a/b.txt"}))
    assert gone.value.code == "ERR_INVOKE_OUTPUT_BINDING" and "file not found" in gone.value.message


@pytest.mark.parametrize("name", ["../outside.txt", "a/../../outside.txt", "/etc/passwd", "link/outside.txt"])
async def test_localstorage_refuses_paths_outside_root(
    storage: BindingsAPI, tmp_path: Path, name: str
) -> None:
    (tmp_path / "root" / "link").symlink_to(tmp_path)
    for op in ("get", "create", "delete", "list"):
        with pytest.raises(DaprError) as err:
            await storage.invoke("files", InvokeRequest(op, b"x", {"fileName": name}))
        assert "outside rootPath" in err.value.message
    assert (tmp_path / "outside.txt").read_text() == "secret outside"


async def test_localstorage_creates_its_root_folder(tmp_path: Path) -> None:
    # As contrib's Init (os.MkdirAll): a root folder that is not there yet is created.
    binding = await open_binding("bindings.localstorage", {"rootPath": "missing/nested"}, tmp_path)
    try:
        assert (tmp_path / "missing" / "nested").is_dir()
    finally:
        await binding.close()


async def test_unknown_binding_and_operation(storage: BindingsAPI) -> None:
    with pytest.raises(DaprError) as unknown:
        await storage.invoke("nope", InvokeRequest("get"))
    assert unknown.value.message == "error invoking output binding nope: couldn't find output binding nope"
    with pytest.raises(DaprError) as op:
        await storage.invoke("files", InvokeRequest("exec"))
    assert op.value.http_status == 500
    assert "does not support operation exec. supported operations:create get list delete" in op.value.message


async def test_redis_create_get_delete(tmp_path: Path) -> None:
    binding = await open_binding("bindings.redis", {"redisHost": "127.0.0.1:6379"}, tmp_path)
    api = BindingsAPI({"cache": binding})
    key = f"binding-{uuid.uuid4().hex}"
    try:
        await api.invoke("cache", InvokeRequest("create", b'{"a":1}', {"key": key, "ttlInSeconds": "30"}))
        assert (await api.invoke("cache", InvokeRequest("get", b"", {"key": key}))).data == b'{"a":1}'
        await api.invoke("cache", InvokeRequest("delete", b"", {"key": key}))
        assert (await api.invoke("cache", InvokeRequest("get", b"", {"key": key}))).data is None
        with pytest.raises(DaprError, match="required metadata 'key' missing"):
            await api.invoke("cache", InvokeRequest("get"))
    finally:
        await binding.close()


@pytest.mark.parametrize(
    ("type_name", "props", "placeholder"),
    [
        (
            "bindings.postgresql",
            {"connectionString": "host=127.0.0.1 port=5432 user=postgres database=test"},
            "$1",
        ),
        ("bindings.mysql", {"url": "root:@tcp(127.0.0.1:3306)/test"}, "?"),
    ],
)
async def test_sql_exec_query_close(
    tmp_path: Path, type_name: str, props: dict[str, str], placeholder: str
) -> None:
    binding = await open_binding(type_name, props, tmp_path)
    api = BindingsAPI({"db": binding})
    table = f"b_{uuid.uuid4().hex[:12]}"
    p2 = "$2" if placeholder == "$1" else "?"

    async def run(op: str, sql: str, params: list[object] | None = None) -> tuple[object, dict[str, str]]:
        meta = {"sql": sql}
        if params is not None:
            meta["params"] = json.dumps(params)
        resp = await api.invoke("db", InvokeRequest(op, b"", meta))
        return (json.loads(resp.data) if resp.data else None), resp.metadata

    try:
        await run("exec", f"CREATE TABLE {table} (id INT PRIMARY KEY, name VARCHAR(50))")
        _, meta = await run(
            "exec", f"INSERT INTO {table} (id, name) VALUES ({placeholder}, {p2})", [1, "a%b"]
        )
        assert meta["rows-affected"] == "1" and meta["operation"] == "exec"
        await run("exec", f"INSERT INTO {table} (id, name) VALUES ({placeholder}, {p2})", [2, "it's"])
        rows, meta = await run(
            "query", f"SELECT id, name FROM {table} WHERE id >= {placeholder} ORDER BY id", [1]
        )
        if type_name == "bindings.mysql":
            assert rows == [{"id": 1, "name": "a%b"}, {"id": 2, "name": "it's"}]
        else:
            assert rows == [[1, "a%b"], [2, "it's"]]
        assert "duration" in meta and "start-time" in meta
        with pytest.raises(DaprError) as bad:
            await run("query", "SELEC nonsense")
        assert bad.value.code == "ERR_INVOKE_OUTPUT_BINDING"
        with pytest.raises(DaprError, match="required metadata 'sql' missing"):
            await api.invoke("db", InvokeRequest("exec"))
    finally:
        await run("exec", f"DROP TABLE IF EXISTS {table}")
        await api.invoke("db", InvokeRequest("close"))
    with pytest.raises(DaprError, match="pool is closed"):
        await run("query", "SELECT 1")


async def test_http_binding_verbs_path_headers_and_errors(tmp_path: Path) -> None:
    seen: list[tuple[str, str, str, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            seen.append((self.command, self.path, self.headers.get("x-trace", ""), body))
            status = 404 if self.path.endswith("/missing") else 200
            payload = b'{"ok":true}'
            self.send_response(status)
            self.send_header("content-length", str(len(payload)))
            self.send_header("x-served-by", "test")
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/api"
        binding = await open_binding("bindings.http", {"url": url}, tmp_path)
        api = BindingsAPI({"web": binding})
        resp = await api.invoke(
            "web", InvokeRequest("create", b'{"n":1}', {"path": "items", "x-trace": "t1"})
        )
        assert resp.data == b'{"ok":true}' and resp.metadata["statusCode"] == "200"
        assert resp.metadata["x-served-by"] == "test"
        assert seen[-1] == ("POST", "/api/items", "t1", b'{"n":1}')
        await api.invoke("web", InvokeRequest("get"))
        assert seen[-1][:2] == ("GET", "/api")
        with pytest.raises(DaprError, match="received status code 404"):
            await api.invoke("web", InvokeRequest("get", b"", {"path": "missing"}))
        ok = await api.invoke("web", InvokeRequest("get", b"", {"path": "missing", "errorIfNot2XX": "false"}))
        assert ok.metadata["statusCode"] == "404"
        await binding.close()
    finally:
        server.shutdown()
        server.server_close()
