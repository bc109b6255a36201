"""Bindings end to end with gRPC apps and broker bindings: an official-SDK gRPC app
(``dapr.ext.grpc.App``, ``@app.binding``) receives RabbitMQ events that the SDK's ``invoke_binding``
published, the first one refused and delivered again; ``invoke_binding`` sends MQTT messages and
e-mail; a gRPC app's reply with ``to`` sends its data on to an output binding."""

from __future__ import annotations

import asyncio
import json
import socket
import textwrap
import time
import uuid
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import aio_pika
import aiomqtt
import pytest
from aiosmtpd.controller import Controller
from dapr.clients import DaprClient

from tests.e2e.harness import Processes, free_port, records, wait_port

pytestmark = pytest.mark.e2e

RABBIT = "amqp://guest:guest@127.0.0.1:5672/"

COMPONENTS = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: orders
spec:
  type: bindings.rabbitmq
  version: v1
  metadata:
  - name: host
    value: {rabbit}
  - name: queueName
    value: {queue}
  - name: durable
    value: "true"
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: events
spec:
  type: bindings.mqtt3
  version: v1
  metadata:
  - name: url
    value: tcp://127.0.0.1:1883
  - name: topic
    value: {topic}
  - name: consumerID
    value: "{{uuid}}"
  - name: cleanSession
    value: "true"
  - name: direction
    value: output
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: mail
spec:
  type: bindings.smtp
  version: v1
  metadata:
  - name: host
    value: 127.0.0.1
  - name: port
    value: "{smtp_port}"
  - name: emailFrom
    value: app@example.com
  - name: subject
    value: From the sidecar
"""

SDK_APP = textwrap.dedent(
    """
    import json, sys
    from dapr.ext.grpc import App

    app = App()
    calls = {"n": 0}

    @app.binding("orders")
    def orders(request):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("the first event is refused: the sidecar must deliver it again")
        with open(sys.argv[2], "a") as out:
            out.write(json.dumps({"data": request.data.decode(), "call": calls["n"]}) + "\\n")

    app.run(int(sys.argv[1]))
    """
)

REPLY_APP = textwrap.dedent(
    """
    import asyncio, sys
    import grpc
    from dapr.proto.runtime.v1 import appcallback_pb2, appcallback_pb2_grpc

    class Callback(appcallback_pb2_grpc.AppCallbackServicer):
        async def ListInputBindings(self, request, context):
            return appcallback_pb2.ListInputBindingsResponse(bindings=["tick"])

        async def OnBindingEvent(self, request, context):
            # Reply as a Dapr app may: send this data on to the output binding "files".
            return appcallback_pb2.BindingEventResponse(to=["files"], data=b'{"from": "reply"}')

    async def main():
        server = grpc.aio.server()
        appcallback_pb2_grpc.add_AppCallbackServicer_to_server(Callback(), server)
        server.add_insecure_port("127.0.0.1:" + sys.argv[1])
        await server.start()
        await server.wait_for_termination()

    asyncio.run(main())
    """
)

REPLY_COMPONENTS = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: tick
spec:
  type: bindings.cron
  version: v1
  metadata:
  - name: schedule
    value: "@every 1s"
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: files
spec:
  type: bindings.localstorage
  version: v1
  metadata:
  - name: rootPath
    value: data
"""


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, _Mailbox]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    mailbox = _Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, mailbox
    finally:
        controller.stop()


async def _delete_queue(name: str) -> None:
    connection = await aio_pika.connect(RABBIT, timeout=5)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(name)


async def _retained(topic: str) -> bytes:
    async with aiomqtt.Client("127.0.0.1", 1883) as client:
        await client.subscribe(topic, qos=1)
        async with asyncio.timeout(5):
            message = await anext(aiter(client.messages))
        # Clear the retained message so the broker keeps nothing of this test.
        await client.publish(topic, b"", qos=1, retain=True)
    assert isinstance(message.payload, bytes)
    return message.payload


def _wait_lines(path: Path, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    lines: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        lines = records(path)
        if len(lines) >= count:
            break
        time.sleep(0.05)
    return lines


def test_sdk_grpc_app_gets_rabbitmq_events_and_sdk_invokes_mqtt_and_smtp(
    procs: Processes, smtp: tuple[int, _Mailbox], dapr_settings: Any
) -> None:
    smtp_port, mailbox = smtp
    queue = f"pydapr-e2e-{uuid.uuid4().hex[:12]}"
    topic = f"pydapr/e2e/{uuid.uuid4().hex[:12]}"
    resources = procs.workdir / "resources"
    resources.mkdir()
    (resources / "bindings.yaml").write_text(
        COMPONENTS.format(rabbit=RABBIT, queue=queue, topic=topic, smtp_port=smtp_port)
    )
    received = procs.workdir / "received.jsonl"
    script = procs.workdir / "sdk_app.py"
    script.write_text(SDK_APP)
    app_port = free_port()
    try:
        app = procs.app("grpc-binding-app", script, args=[str(app_port), str(received)])
        wait_port(app_port, proc=app)
        sidecar = procs.sidecar(
            "grpc-binding-app", app_port=app_port, app_protocol="grpc", resources=resources
        )
        procs.wait_healthy(sidecar)
        dapr_settings(sidecar)
        with DaprClient() as client:
            for n in (1, 2):
                client.invoke_binding("orders", "create", json.dumps({"order": n}), {"priority": "1"})
            lines = _wait_lines(received, 2)
            assert [json.loads(x["data"]) for x in lines] == [{"order": 1}, {"order": 2}]
            assert lines[0]["call"] == 2  # the refused first call was delivered again

            client.invoke_binding("events", "create", "hello mqtt", {"retain": "true"})
            assert asyncio.run(_retained(topic)) == b"hello mqtt"

            client.invoke_binding(
                "mail", "create", "<p>Hi</p>", {"emailTo": "a@example.com;b@example.com", "priority": "2"}
            )
        ((recipients, content),) = mailbox.messages
        assert recipients == ["a@example.com", "b@example.com"]
        mail = message_from_bytes(content, policy=policy.default)
        assert mail["Subject"] == "From the sidecar" and mail["X-Priority"] == "2"
        assert mail["From"] == "app@example.com"
        assert "<p>Hi</p>" in mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
    finally:
        procs.stop_all()
        asyncio.run(_delete_queue(queue))


def test_grpc_app_reply_sends_data_to_output_bindings(procs: Processes) -> None:
    resources = procs.workdir / "resources"
    resources.mkdir()
    (resources / "bindings.yaml").write_text(REPLY_COMPONENTS)
    data = procs.workdir / "data"
    data.mkdir()
    script = procs.workdir / "reply_app.py"
    script.write_text(REPLY_APP)
    app_port = free_port()
    app = procs.app("reply-app", script, args=[str(app_port)])
    wait_port(app_port, proc=app)
    procs.sidecar("reply-app", app_port=app_port, app_protocol="grpc", resources=resources)
    deadline = time.monotonic() + 10
    files: list[Path] = []
    while time.monotonic() < deadline and not files:
        files = [f for f in data.iterdir() if f.stat().st_size]
        time.sleep(0.05)
    assert files, "the app's reply never reached the output binding"
    assert json.loads(files[0].read_bytes()) == {"from": "reply"}
