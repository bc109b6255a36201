"""bindings.smtp against a local aiosmtpd server on a free port: headers, HTML body, envelope
recipients (BCC only there), request metadata overriding the component's, AUTH, errors."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from pydapr.bindings.api import BindingsAPI
from pydapr.bindings.contract import InvokeRequest
from pydapr.bindings.smtp import SMTPBinding
from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.components.registry import registry
from pydapr.errors import DaprError


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage
    login: str | None


@dataclass
class Mailbox:
    received: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        login = session.auth_data.login.decode() if session.authenticated else None
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed, login))
        return "250 OK"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"s3cret"
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, Mailbox]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    mailbox = Mailbox()
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port, authenticator=_authenticate, auth_require_tls=False
    )
    controller.start()
    try:
        yield port, mailbox
    finally:
        controller.stop()


async def _binding(tmp_path: Path, port: int, **props: str) -> BindingsAPI:
    binding = registry.create("bindings.smtp", "v1")
    assert isinstance(binding, SMTPBinding)
    meta = {"host": "127.0.0.1", "port": str(port), **props}
    await binding.init(ComponentMetadata("mail", "bindings.smtp", "v1", meta, base_dir=tmp_path))
    return BindingsAPI({"mail": binding})


async def test_sends_with_component_defaults(tmp_path: Path, smtp_server: tuple[int, Mailbox]) -> None:
    port, mailbox = smtp_server
    api = await _binding(
        tmp_path,
        port,
        user="app",
        password="s3cret",
        emailFrom="sender@example.com",
        emailTo="a@example.com; b@example.com",
        emailCC="c@example.com",
        emailBCC="hidden@example.com",
        subject="Hello",
        priority="1",
    )
    await api.invoke("mail", InvokeRequest("create", b'"<h1>Hi</h1> caf\\u00e9"'))
    (got,) = mailbox.received
    assert got.sender == "sender@example.com" and got.login == "app"
    assert sorted(got.recipients) == ["a@example.com", "b@example.com", "c@example.com", "hidden@example.com"]
    msg = got.message
    assert msg["From"] == "sender@example.com"
    assert msg["To"] == "a@example.com, b@example.com" and msg["Cc"] == "c@example.com"
    assert msg["Bcc"] is None
    assert msg["Subject"] == "Hello" and msg["X-Priority"] == "1"
    assert msg.get_content_type() == "text/html"
    assert msg.get_content().strip() == "<h1>Hi</h1> café"


async def test_request_metadata_overrides(tmp_path: Path, smtp_server: tuple[int, Mailbox]) -> None:
    port, mailbox = smtp_server
    api = await _binding(
        tmp_path, port, emailFrom="default@example.com", subject="Default", emailTo="x@example.com"
    )
    meta = {"emailFrom": "other@example.com", "emailTo": "y@example.com", "subject": "Über", "priority": "5"}
    await api.invoke("mail", InvokeRequest("create", b"plain <b>text</b>", meta))
    await api.invoke("mail", InvokeRequest("create", b"second", {"emailTo": ""}))
    first, second = mailbox.received
    assert first.login is None and first.recipients == ["y@example.com"]
    assert first.message["Subject"] == "Über" and first.message["X-Priority"] == "5"
    assert first.message["From"] == "other@example.com"
    assert first.message.get_content().strip() == "plain <b>text</b>"
    assert second.recipients == ["x@example.com"] and second.message["X-Priority"] == "3"
    assert second.message["Subject"] == "Default"


async def test_errors(tmp_path: Path, smtp_server: tuple[int, Mailbox]) -> None:
    port, mailbox = smtp_server
    api = await _binding(tmp_path, port, emailFrom="a@example.com", emailTo="b@example.com")
    with pytest.raises(DaprError, match="subject property not supplied"):
        await api.invoke("mail", InvokeRequest("create", b"x"))
    with pytest.raises(DaprError, match="priority value must be between 1"):
        await api.invoke("mail", InvokeRequest("create", b"x", {"subject": "s", "priority": "9"}))
    with pytest.raises(DaprError, match="supported operations:create"):
        await api.invoke("mail", InvokeRequest("get"))
    wrong = await _binding(
        tmp_path, port, user="app", password="nope", emailFrom="a@x.org", emailTo="b@x.org"
    )
    with pytest.raises(DaprError, match="sending email failed"):
        await wrong.invoke("mail", InvokeRequest("create", b"x", {"subject": "s"}))
    assert mailbox.received == []
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = int(s.getsockname()[1])
    down = await _binding(tmp_path, closed_port, emailFrom="a@x.org", emailTo="b@x.org", subject="s")
    with pytest.raises(DaprError, match="sending email failed"):
        await down.invoke("mail", InvokeRequest("create", b"x"))
    for props, name in (({"port": "25"}, "host"), ({"host": "h", "port": "25", "user": "u"}, "user")):
        with pytest.raises(ComponentConfigError) as err:
            await SMTPBinding().init(ComponentMetadata("m", "bindings.smtp", "v1", props, base_dir=tmp_path))
        assert err.value.field_name == name
