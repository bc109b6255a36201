"""A workflow app written with the JavaScript SDK (``@dapr/dapr``'s ``WorkflowRuntime`` and
``DaprWorkflowClient``, tests/e2e/js/workflow_app.js) against a pydapr sidecar: activities in
sequence and in parallel, an external event, suspend and resume. The Python SDK's client then reads
the same instances through the same sidecar (one engine, two SDKs).

The mesh: ``pydapr placement``, ``pydapr scheduler``, a Redis actor state store, one sidecar without
an app port (a workflow worker needs none: it connects to the sidecar).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dapr.ext.workflow import WorkflowStatus

from tests.e2e.workflow_mesh import WorkflowHost, workflow_mesh

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

JS_DIR = Path(__file__).parent / "js"
RUN = "wfjs" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkflowHost]:
    with workflow_mesh(tmp_path_factory, "wf-js", RUN) as mesh:
        yield mesh.host("js", worker=False)


def run_js(host: WorkflowHost, config: dict[str, str]) -> dict[str, Any]:
    node = shutil.which("node")
    assert node is not None, "node (20+) must be on PATH for the JavaScript SDK tests"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAPR_", "APP_"))}
    env.update(
        DAPR_GRPC_PORT=str(host.grpc_port), DAPR_HTTP_PORT=str(host.http_port), JS_CONFIG=json.dumps(config)
    )
    out = subprocess.run(
        [node, str(JS_DIR / "workflow_app.js")],
        env=env,
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line[len("RESULT ") :]))
    raise AssertionError(f"no RESULT line (exit {out.returncode}):\n{out.stdout}\n{out.stderr}")


def test_js_sdk_workflows(host: WorkflowHost) -> None:
    ids = {"sequence": f"jsseq-{uuid.uuid4().hex[:8]}", "approval": f"jsappr-{uuid.uuid4().hex[:8]}"}
    result = run_js(host, ids)
    assert "error" not in result, result["error"]

    sequence = result["sequence"]
    assert sequence["name"] == "js_sequence"
    assert sequence["status"] == "COMPLETED", sequence
    assert json.loads(sequence["input"]) == ["ann", "bo", "cy"]
    assert json.loads(sequence["output"]) == {
        "greetings": ["Hello ann!", "Hello bo!", "Hello cy!"],
        "parallel": ["Hello ANN!", "Hello BO!", "Hello CY!"],
    }

    assert result["suspended"] == "SUSPENDED"
    approval = result["approval"]
    assert approval["status"] == "COMPLETED", approval
    assert json.loads(approval["output"]) == {"approvedBy": "Dee", "instance": ids["approval"]}

    # The Python SDK's client sees the JS app's instances as they are. The JS worker has gone, and
    # the workflow actors are hosted only while a worker is connected (as in daprd): a Python
    # worker takes the app id over.
    host.start_worker()
    client = host.client()
    try:
        state = client.get_workflow_state(ids["sequence"])
        assert state is not None and state.runtime_status == WorkflowStatus.COMPLETED
        assert state.name == "js_sequence"
        assert json.loads(state.serialized_output)["parallel"] == ["Hello ANN!", "Hello BO!", "Hello CY!"]
        approved = client.get_workflow_state(ids["approval"])
        assert approved is not None and approved.runtime_status == WorkflowStatus.COMPLETED
    finally:
        client.close()
