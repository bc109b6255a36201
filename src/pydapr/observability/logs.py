"""Sidecar logging in Dapr's shape: logfmt-style text, or one JSON object per line (--log-as-json)."""

from __future__ import annotations

import json
import logging
import socket
import sys
from datetime import UTC, datetime

from pydapr import DAPR_COMPAT_VERSION

_LEVELS = {"WARNING": "warning", "CRITICAL": "fatal"}


class _DaprFormatter(logging.Formatter):
    def __init__(self, app_id: str, as_json: bool) -> None:
        super().__init__()
        self.app_id = app_id
        self.as_json = as_json
        self.instance = socket.gethostname()

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message = f"{message}\n{self.formatException(record.exc_info)}"
        when = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds")
        level = _LEVELS.get(record.levelname, record.levelname.lower())
        scope = (
            record.name.replace("pydapr.", "dapr.", 1) if record.name.startswith("pydapr") else record.name
        )
        if self.as_json:
            return json.dumps(
                {
                    "time": when,
                    "level": level,
                    "msg": message,
                    "scope": scope,
                    "app_id": self.app_id,
                    "instance": self.instance,
                    "type": "log",
                    "ver": DAPR_COMPAT_VERSION,
                }
            )
        return (
            f'time="{when}" level={level} msg={json.dumps(message)} app_id={self.app_id} '
            f"instance={self.instance} scope={scope} type=log ver={DAPR_COMPAT_VERSION}"
        )


def configure_logging(app_id: str, level: str, as_json: bool) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_DaprFormatter(app_id, as_json))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper() if level != "fatal" else "CRITICAL")
    # grpc and asyncio are chatty at debug; keep them at warning unless asked for debug.
    for noisy in ("asyncio", "grpc"):
        logging.getLogger(noisy).setLevel(logging.WARNING if level != "debug" else logging.DEBUG)
