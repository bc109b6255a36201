"""``bindings.smtp``: send e-mail through an SMTP server (components-contrib bindings/smtp).

Metadata: ``host`` and ``port`` (required), ``user`` and ``password`` (both or neither),
``skipTLSVerify`` (default false), and the message defaults ``emailFrom``, ``emailTo``,
``emailCC``, ``emailBCC``, ``subject``, ``priority`` (1-5, default 3), each overridable by the
request metadata of the same name (an empty value keeps the component's).

Operation ``create`` sends the data as an HTML body (a quoted string is unquoted first, as Dapr
does for data that arrived as a JSON string). ``emailFrom``, ``emailTo`` and ``subject`` must be set
by the component or the request; ``emailTo``/``emailCC``/``emailBCC`` take several addresses
separated by ``;``. BCC recipients get the message but appear in no header. The priority goes in
the ``X-Priority`` header. Port 465 means implicit TLS; on other ports STARTTLS is used when the
server offers it. Credentials are sent only when the server offers AUTH.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import getaddresses

import aiosmtplib
import msgspec

from pydapr.bindings.contract import BindingError, InvokeRequest, InvokeResponse, OutputBinding
from pydapr.components.base import ComponentConfigError, ComponentMetadata

log = logging.getLogger("pydapr.bindings.smtp")

DEFAULT_PRIORITY = 3
LOWEST_PRIORITY = 1
HIGHEST_PRIORITY = 5
SEPARATOR = ";"
IMPLICIT_TLS_PORT = 465
MESSAGE_FIELDS = ("emailFrom", "emailTo", "emailCC", "emailBCC", "subject")


def priority_value(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise BindingError(f"smtp binding error: priority {text!r} is not an integer") from None
    if not LOWEST_PRIORITY <= value <= HIGHEST_PRIORITY:
        raise BindingError(
            f"smtp binding error: priority value must be between {LOWEST_PRIORITY} (highest) and "
            f"{HIGHEST_PRIORITY} (lowest)"
        )
    return value


def addresses(text: str) -> list[str]:
    return [a.strip() for a in text.split(SEPARATOR) if a.strip()]


def body_text(data: bytes) -> str:
    text = data.decode("utf-8", "replace")
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            unquoted = msgspec.json.decode(text)
        except msgspec.DecodeError:
            return text
        if isinstance(unquoted, str):
            return unquoted
    return text


class SMTPBinding(OutputBinding):
    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        self.host = metadata.get("host") or ""
        self.port = metadata.get_int("port", 0)
        if not self.host or not self.port:
            raise ComponentConfigError(
                metadata.name, "host", "smtp binding error: host and port fields are required in metadata"
            )
        self.user = metadata.get("user") or ""
        self.password = metadata.get("password") or ""
        if bool(self.user) != bool(self.password):
            raise ComponentConfigError(
                metadata.name, "user", "smtp binding error: both user and password fields are required"
            )
        if not self.user:
            log.warning("smtp binding %s: user and password are empty", metadata.name)
        self.skip_verify = metadata.get_bool("skipTLSVerify")
        if self.skip_verify:
            log.warning("smtp binding %s: TLS certificates are not verified (skipTLSVerify)", metadata.name)
        self.defaults = {k: metadata.get(k) or "" for k in MESSAGE_FIELDS}
        priority = metadata.get("priority") or ""
        try:
            self.priority = priority_value(priority) if priority else DEFAULT_PRIORITY
        except BindingError as exc:
            raise ComponentConfigError(metadata.name, "priority", str(exc)) from None

    def operations(self) -> tuple[str, ...]:
        return ("create",)

    def compose(self, request: InvokeRequest) -> tuple[EmailMessage, list[str]]:
        fields = dict(self.defaults)
        for key in MESSAGE_FIELDS:
            if request.metadata.get(key):
                fields[key] = request.metadata[key]
        priority = request.metadata.get("priority")
        level = priority_value(priority) if priority else self.priority
        for required in ("emailFrom", "emailTo", "subject"):
            if not fields[required]:
                raise BindingError(
                    f"smtp binding error: {required} property not supplied in configuration- or "
                    "request-metadata"
                )
        to, cc, bcc = (addresses(fields[k]) for k in ("emailTo", "emailCC", "emailBCC"))
        message = EmailMessage()
        message["From"] = fields["emailFrom"]
        message["To"] = ", ".join(to)
        if cc:
            message["Cc"] = ", ".join(cc)
        message["Subject"] = fields["subject"]
        message["X-Priority"] = str(level)
        message.set_content(body_text(request.data), subtype="html", charset="utf-8")
        return message, [address for _, address in getaddresses(to + cc + bcc) if address]

    async def invoke(self, request: InvokeRequest) -> InvokeResponse:
        message, recipients = self.compose(request)
        implicit_tls = self.port == IMPLICIT_TLS_PORT
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            use_tls=implicit_tls,
            start_tls=False if implicit_tls else None,
            validate_certs=not self.skip_verify,
            timeout=30,
        )
        try:
            async with client:
                if self.user and client.supports_extension("auth"):
                    await client.login(self.user, self.password)
                await client.send_message(message, recipients=recipients)
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise BindingError(f"error from smtp binding, sending email failed: {exc}") from exc
        return InvokeResponse()
