"""``pydapr publish``: publishes an event through a running app's sidecar, as ``dapr publish`` does
(``POST /v1.0/publish/<pubsub>/<topic>``, metadata as ``metadata.<key>`` query parameters)."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from typing import Any, NoReturn
from urllib.parse import quote

import click

from pydapr.cli.invoke import read_payload
from pydapr.cli.process import Console

_CLOUD_EVENT_KEYS = ("id", "source", "specversion", "type", "data")


def content_type(payload: bytes) -> str:
    """A payload that already is a CloudEvent goes as one (the sidecar then does not wrap it)."""
    try:
        event = json.loads(payload)
    except ValueError:
        return "application/json"
    if isinstance(event, dict) and all(key in event for key in _CLOUD_EVENT_KEYS):
        return "application/cloudevents+json"
    return "application/json"


def _text(value: Any) -> str:
    # Go's %v of a decoded JSON value: strings bare, true/false, numbers as written.
    if isinstance(value, str):
        return value
    return json.dumps(value)


@click.command(name="publish")
@click.option("--publish-app-id", "-i", required=True, help="The ID of the publishing app")
@click.option("--pubsub", "-p", required=True, help="The name of the pub/sub component")
@click.option("--topic", "-t", required=True, help="The topic to be published to")
@click.option("--data", "-d", default="", help="The JSON serialized data string (optional)")
@click.option("--data-file", "-f", default="", help="A file containing the JSON serialized data (optional)")
@click.option(
    "--unix-domain-socket",
    "-u",
    default="",
    help="Path to a unix domain socket dir. If specified, Dapr API servers will use Unix Domain Sockets",
)
@click.option("--metadata", "-m", default="", help="The JSON serialized publish metadata (optional)")
def command(
    publish_app_id: str,
    pubsub: str,
    topic: str,
    data: str,
    data_file: str,
    unix_domain_socket: str,
    metadata: str,
) -> None:
    """Publish a pub-sub event."""
    from pydapr.cli.instances import running_instances, sidecar_call

    console = Console()
    payload = read_payload(data, data_file, "publish", console)
    if unix_domain_socket:
        console.warning("Unix domain sockets are currently a preview feature")
    values: dict[str, Any] = {}
    if metadata:
        try:
            values = json.loads(metadata)
            if not isinstance(values, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            console.failure(f"Error parsing metadata as JSON. Error: {exc}")
            sys.exit(1)
    query = "&".join(f"metadata.{quote(str(k))}={quote(_text(v))}" for k, v in values.items())

    def fail(reason: str) -> NoReturn:
        console.failure(f"Error publishing topic {topic}: {reason}")
        sys.exit(1)

    if not publish_app_id or not pubsub or not topic:
        missing = "publishAppID" if not publish_app_id else "pubsubName" if not pubsub else "topic"
        fail(f"{missing} is missing")
    target = next((inst for inst in running_instances() if inst.app_id == publish_app_id), None)
    if target is None:
        fail("couldn't find a running Dapr instance")
    if unix_domain_socket:
        target = replace(target, unix_domain_socket=unix_domain_socket)
    path = f"/v1.0/publish/{pubsub}/{topic}" + (f"?{query}" if query else "")
    try:
        response = sidecar_call(target, "POST", path, payload, {"Content-Type": content_type(payload)}, 30.0)
    except OSError as exc:
        fail(str(exc))
    if response.status < 200 or response.status >= 300:
        fail(f"unexpected status code {response.status} on publishing to {topic} in {pubsub}")
    console.success("Event published successfully")
